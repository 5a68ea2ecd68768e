"""Installment plans: a course paid in N monthly installments on a Stripe subscription.

`records` keeps the plan in our database (opened by the first payment, moved by invoices);
`sync` brings a plan up to date with Stripe and bounds the subscription to N invoices;
`actions` holds what learners and admins do to a plan (replace the card, pay the balance,
cancel what remains).
"""

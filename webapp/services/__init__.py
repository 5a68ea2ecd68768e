"""Business services: pricing, checkout, fulfillment, refunds, saved cards, reconciliation."""

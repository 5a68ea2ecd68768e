"""What admins read: dashboard figures, enrollment lists and exports, timelines, usage, activity.

Every figure is aggregated in SQL (GROUP BY with conditional sums), never by looping over
rows in Python. Every list is keyset-paginated by `paging.keyset_page` on indexed columns
(`enrolled_at, id` for enrollments, `created_at, id` for payments, `received_at, id` for
events), so page N costs the same as page 1 at a million rows. Reads only: nothing here
changes a row.
"""

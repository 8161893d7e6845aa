"""The Collective Impact Bond: outcomes and the payment ledger (spec rules.md §14-15).

Pure rules first, I/O at the edges:

- ``rate_card``   config/rate_card.yaml as validated models (exact money and shares)
- ``split``       a price split between commissioners in integer pence (largest remainder)
- ``periods``     claim periods (``2017/18-spring``): parsing, order, the term of a date
- ``eligibility`` the conditions of each payment as pure functions, with their evidence
- ``outcomes``    the status of each rate-card outcome per child (pure) and its mart
- ``ledger``      entitlements -> ledger lines: cap, frozen submissions, adjustments
- ``store``       the frozen-claims store (outside the warehouse: a rebuild never wipes it)
- ``facts``       reading the programme's facts from the warehouse
- ``build``       the marts: outcomes, payment_ledger, payment_claims
- ``export``      a commissioner's claim as .xlsx and .csv (formula-safe)
"""

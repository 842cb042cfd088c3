"""The public REST API under /api/v1/: tokens, their scopes and limits, and the endpoints.

Every endpoint acts through the same selectors and services as the HTML views, so a token
sees and does exactly what its person may in the UI (narrowed further by the token's scope).
"""

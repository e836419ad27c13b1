"""Thin Lambda entry points: each module binds an app to :func:`sqsq.lambda_handler`. No business logic here."""

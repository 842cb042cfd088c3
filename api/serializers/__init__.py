"""Serializers: the API's input and output shapes, one module per area."""

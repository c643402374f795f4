"""A ``cases-from`` MODEL that is neither a Keras model nor a torch module."""
model = "not a model \x1b[31m"


def factory():
    return {"layers": ["conv"]}

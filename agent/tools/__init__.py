"""Tools the agent can call: schemas, the Python-function adapter and the tool set that runs them."""

"""Labs: catalogue, orders, results, flags, analyzer import."""

"""Protocol layer: Authlib grants, endpoints and claims. Knows nothing of factor kinds."""

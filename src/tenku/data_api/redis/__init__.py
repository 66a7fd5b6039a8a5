"""The Data API of Heroku Data for Redis: `/redis/v0/databases/...`.

Add-ons share the operator's Redis server (an ACL user each, or a logical database
where the server has no ACLs), so what `redis:info` shows of the server (version,
maxmemory policy, timeout, keyspace notifications, persistence) is the server's, and
those settings cannot be changed for one add-on: `redis:maxmemory`, `redis:timeout` and
`redis:keyspace-notifications` succeed when they ask for what the server already does
and are refused, saying why, otherwise. `redis:credentials --reset` gives the add-on's
ACL user a new password and its apps the new URL through a release.
"""

"""The Redis cache's connection factory: one redis.Redis per server URL in a process, shared.

Django builds a cache backend per context (asgiref.local): under ASGI once per request, and
in each sync_to_async call made from a fresh task. django-redis then builds a redis.Redis for
it, and constructing one copies redis-py's table of reply callbacks: 0.2 ms, which was a
tenth of a relayed call's CPU. A redis.Redis is safe to share between threads (each command
takes a connection from the pool and gives it back), so the backends share one, as
django-redis's ConnectionFactory already has them share the pool.
"""

from django_redis.pool import ConnectionFactory
from redis import Redis


class SharedClientConnectionFactory(ConnectionFactory):
    _clients: dict[str, Redis] = {}  # process-wide, like ConnectionFactory._pools

    def get_connection(self, params) -> Redis:
        key = params["url"]
        if key not in self._clients:  # a race makes one client too many, never a wrong one
            self._clients[key] = super().get_connection(params)
        return self._clients[key]

"""The shape of our middleware that runs around a view: sync or async, whichever the stack
is, so an async view (the relay's) is never pushed into a thread."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class AroundViewMiddleware:
    """Subclasses define before(request) -> state and after(request, response, state) ->
    response; neither may do I/O of its own (they run on the event loop under ASGI)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        state = self.before(request)
        return self.after(request, self.get_response(request), state)

    async def __acall__(self, request):
        state = self.before(request)
        return self.after(request, await self.get_response(request), state)

    def before(self, request):
        raise NotImplementedError

    def after(self, request, response, state):
        raise NotImplementedError

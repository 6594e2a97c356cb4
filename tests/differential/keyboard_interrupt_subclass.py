# Only KeyboardInterrupt itself kills the process by SIGINT; a subclass exits 1.
class Stop(KeyboardInterrupt):
    pass


raise Stop()

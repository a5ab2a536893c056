"""The sync socket between the runtime and the container's processes (process/sync.py),
on a real socketpair: no container needed."""

from pycontainer.errors import ContainerSetupError
from pycontainer.process import sync as S


def test_a_child_that_fails_with_go_unread_is_reported_by_its_own_error():
    """The child fails (its unshare, say) and exits before it reads GO: unix(7) resets the
    connection, and recv reports ECONNRESET before the child's ERROR. The runtime must
    report the child's error, not "Connection reset by peer" (a CI failure, stop 37)."""
    parent, child = S.SyncSocket.pair()
    parent.send(S.GO)
    child.send_error(OSError(28, "No space left on device"), stage="namespaces")
    child.close()
    try:
        parent.expect(S.INIT_PID, timeout=5)
    except ContainerSetupError as e:
        assert str(e) == "No space left on device" and e.errno == 28
    else:
        raise AssertionError("no error raised")
    finally:
        parent.close()


def test_queued_error_reads_past_a_reset():
    parent, child = S.SyncSocket.pair()
    parent.send(S.GO)
    child.send_error(OSError(28, "No space left on device"), stage="namespaces")
    child.close()
    failed = parent.queued_error()
    parent.close()
    assert failed is not None and "No space left on device" in str(failed)


def test_a_child_that_exits_silently_with_go_unread_is_a_setup_error():
    parent, child = S.SyncSocket.pair()
    parent.send(S.GO)
    child.close()
    try:
        parent.recv(timeout=5)
    except ContainerSetupError as e:
        assert "exited during setup" in str(e)
    else:
        raise AssertionError("no error raised")
    finally:
        parent.close()

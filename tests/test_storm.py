"""Storm control against the real Redis: coalescing, the running cap, the waiting queue."""
import threading

import pytest
import redis as redis_py

from net_helpers import unused_port
from sentry_autodiag.storm import StormControl

REDIS_DB = 14  # not Sentry's test db (9): these tests need no Sentry


@pytest.fixture
def client():
    c = redis_py.StrictRedis(host="127.0.0.1", port=6379, db=REDIS_DB)
    c.flushdb()
    yield c
    c.flushdb()


class Clock:
    def __init__(self):
        self.t = 1_000_000.0

    def __call__(self):
        return self.t


def test_first_issue_leads_later_ones_follow_and_get_the_result(client):
    storm = StormControl(client, project_id=1, window=600)
    assert storm.join("web01", "g1:e1", {"group_id": 1}).role == "lead"
    assert storm.join("web01", "g2:e2", {"group_id": 2}) == ("follow", "g1:e1", None)
    assert storm.join("web01", "g3:e3", {"group_id": 3}).role == "follow"
    assert storm.join("web02", "g4:e4", {"group_id": 4}).role == "lead"  # other node
    followers = storm.publish("g1:e1", {"text": "report"})
    assert [f["group_id"] for f in followers] == [2, 3]
    late = storm.join("web01", "g5:e5", {"group_id": 5})
    assert late.role == "shared" and late.result == {"text": "report"} and late.claim == "g1:e1"
    assert storm.publish("g1:e1", {"text": "report"}) == []  # followers are handed out once


def test_a_redelivered_leader_stays_leader(client):
    storm = StormControl(client, project_id=1, window=600)
    assert storm.join("web01", "g1:e1", {}).role == "lead"
    assert storm.join("web01", "g1:e1", {}).role == "lead"


def test_window_zero_means_no_coalescing(client):
    storm = StormControl(client, project_id=1, window=0)
    assert storm.join("web01", "a", {}).role == "lead" and storm.join("web01", "b", {}).role == "lead"


def test_projects_do_not_share(client):
    assert StormControl(client, 1).join("web01", "a", {}).role == "lead"
    assert StormControl(client, 2).join("web01", "b", {}).role == "lead"


def test_window_expiry_starts_a_new_leader(client):
    storm = StormControl(client, project_id=1, window=1)
    assert storm.join("web01", "a", {}).role == "lead"
    client.delete("autodiag:storm:1:node:web01")  # what expiry does
    assert storm.join("web01", "b", {}).role == "lead"


def test_exactly_one_leader_under_a_race(client):
    storm = StormControl(client, project_id=1, window=600)
    roles, barrier = [], threading.Barrier(20)

    def join(i):
        barrier.wait()
        roles.append(StormControl(redis_py.StrictRedis(port=6379, db=REDIS_DB), 1).join("web01", "c%d" % i, {"i": i}).role)

    threads = [threading.Thread(target=join, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(roles) == ["follow"] * 19 + ["lead"]
    leader = client.get("autodiag:storm:1:node:web01").decode()
    assert len(storm.publish(leader, {"text": "x"})) == 19


def test_running_cap_and_slot_expiry(client):
    clock = Clock()
    storm = StormControl(client, project_id=1, max_running=2, now=clock)
    assert storm.acquire("a", hold=100) and storm.acquire("b", hold=100)
    assert not storm.acquire("c", hold=100)
    assert storm.acquire("a", hold=100)  # a holder asking again keeps its slot
    storm.release("a")
    assert storm.acquire("c", hold=100)
    assert storm.running() == 2
    clock.t += 101  # slots of dead workers expire
    assert storm.running() == 0 and storm.acquire("d", hold=100)


def test_waiting_queue_is_fifo_bounded_and_front_insertable(client):
    storm = StormControl(client, project_id=1, max_waiting=2)
    assert storm.wait({"n": 1}) and storm.wait({"n": 2})
    assert not storm.wait({"n": 3})  # full: the caller writes a storm-limit note
    assert storm.wait({"n": 0}, front=True)  # a leader that lost its slot again keeps its place
    assert [storm.next_waiting()["n"] for _ in range(3)] == [0, 1, 2]
    assert storm.next_waiting() is None


def test_redis_unavailable_raises_for_the_caller_to_fall_back():
    storm = StormControl(redis_py.StrictRedis(port=unused_port(), socket_connect_timeout=0.5), project_id=1)
    with pytest.raises(redis_py.exceptions.ConnectionError):
        storm.join("web01", "a", {})

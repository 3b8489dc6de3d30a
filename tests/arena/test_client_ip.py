"""Who the rate limits count behind reverse proxies: ARENA_TRUST_X_FORWARDED_FOR trusts only
the right-most N entries of X-Forwarded-For, those the N proxies wrote themselves."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from arena.visitors import ForwardedClientMiddleware, client_ip, forwarded_client

PROXY = "10.0.0.2"  # the ingress, as the web pod sees it
CLIENT = "203.0.113.7"
SPOOFED = "198.51.100.99"  # what a client writes in its own X-Forwarded-For


@pytest.mark.parametrize(
    "peer, header, hops, expected",
    [
        (CLIENT, None, 0, CLIENT),  # no proxy: the socket's peer
        (CLIENT, SPOOFED, 0, CLIENT),  # ... whatever the client writes
        (PROXY, CLIENT, 1, CLIENT),  # one proxy: the entry it appended
        (PROXY, f"{SPOOFED}, {CLIENT}", 1, CLIENT),  # a client's own entries are left of it
        (PROXY, f"{SPOOFED},{CLIENT}", 1, CLIENT),
        (PROXY, f"{SPOOFED}, {CLIENT}, 10.0.0.1", 2, CLIENT),  # two proxies: second from the right
        (PROXY, "10.0.0.1", 2, "10.0.0.1"),  # fewer entries than proxies: the farthest one seen
        (PROXY, None, 1, PROXY),  # no header: the peer
        (PROXY, " , ", 1, PROXY),
        (PROXY, "unknown", 1, PROXY),  # not an address: the peer
        (PROXY, f"{SPOOFED}, not-an-ip", 1, PROXY),  # never a spoofed entry instead
        (PROXY, f"{CLIENT}:51234", 1, CLIENT),  # a port some proxies add
        (PROXY, "[2001:db8::7]:443", 1, "2001:db8::7"),
        (PROXY, "2001:DB8::7", 1, "2001:db8::7"),
    ],
)
def test_it_trusts_only_the_entries_of_the_configured_proxies(peer, header, hops, expected):
    assert forwarded_client(peer, header, hops) == expected


def test_it_reads_the_request_with_the_setting(settings):
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{SPOOFED}, {CLIENT}")
    settings.ARENA_TRUST_X_FORWARDED_FOR = 0
    assert client_ip(request) == PROXY
    settings.ARENA_TRUST_X_FORWARDED_FOR = 1
    assert client_ip(request) == CLIENT
    settings.ARENA_TRUST_X_FORWARDED_FOR = 2
    assert client_ip(request) == SPOOFED  # two proxies configured, one in fact: the config is wrong


@pytest.mark.django_db
def test_it_rate_limits_each_client_behind_the_proxy(client, clear_cache, settings):
    """Behind one proxy every request comes from its address: the limit counts the clients it
    forwards, and a client cannot reset its count by writing its own X-Forwarded-For."""
    settings.ARENA_TRUST_X_FORWARDED_FOR = 1
    settings.ARENA_ADMIN_LOGINS_PER_MINUTE_IP = 2

    def login(forwarded_for: str) -> int:
        return client.post(
            "/admin/login/",
            {"username": "admin", "password": "guess"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=forwarded_for,
        ).status_code

    assert [login(CLIENT), login(CLIENT)] == [200, 200]
    assert login(f"{SPOOFED}, {CLIENT}") == 429  # the spoofed entry changes nothing
    assert login("203.0.113.8") == 200  # another client behind the same proxy


async def _scope_seen(scope: dict) -> dict:
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)

    await ForwardedClientMiddleware(app)(scope, None, None)
    return seen


def _websocket_scope(forwarded_for: str | None) -> dict:
    headers = [(b"host", b"arena.example.org")]
    if forwarded_for is not None:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    return {"type": "websocket", "client": (PROXY, 40000), "headers": headers}


async def test_it_gives_websockets_the_forwarded_client(settings):
    """The per-network socket caps read the scope's client: behind the proxy it must be the
    person's address, or 120 sockets would fill the whole arena."""
    settings.ARENA_TRUST_X_FORWARDED_FOR = 1
    seen = await _scope_seen(_websocket_scope(f"{SPOOFED}, {CLIENT}"))
    assert seen["client"] == (CLIENT, 40000)
    assert (await _scope_seen(_websocket_scope(None)))["client"] == (PROXY, 40000)
    settings.ARENA_TRUST_X_FORWARDED_FOR = 0
    assert (await _scope_seen(_websocket_scope(CLIENT)))["client"] == (PROXY, 40000)


def test_an_ipv6_client_is_limited_by_its_64_block_not_by_each_address():
    """One subscriber gets a /64: hashed whole, each of its addresses was a network of its own,
    and anyone could rotate past the prompt, login, leaderboard and workshop limits."""
    from arena.visitors import ip_hash

    assert ip_hash("2001:db8:1:2::1") == ip_hash("2001:db8:1:2:ffff:1234:5678:9abc")
    assert ip_hash("2001:db8:1:2::1") != ip_hash("2001:db8:1:3::1")
    assert ip_hash("::ffff:192.0.2.7") == ip_hash("192.0.2.7")  # an IPv4 client on a dual stack
    assert ip_hash("192.0.2.7") != ip_hash("192.0.2.8")

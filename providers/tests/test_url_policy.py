"""PROVIDER_URL_POLICY: refused at save, at test, and at connect (DESIGN.md "Security")."""

from __future__ import annotations

import json
import socket

import pytest
from django.core.exceptions import ValidationError

from providers import url_policy
from providers.models import Provider
from providers.tests.fake_upstream import FakeUpstream

NEVER = [
    "169.254.169.254",
    "2852039166",  # 169.254.169.254 in decimal
    "0xa9fea9fe",  # ... in hex
    "0251.0376.0251.0376",  # ... in octal
    "169.254.43518",  # ... in inet_aton's short form
    "[fd00:ec2::254]",
    "[::ffff:169.254.169.254]",
    "[fe80::1]",
    "metadata.google.internal",
    "METADATA.google.internal.",
]
NOT_PUBLIC = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "[::1]",
    "[::]",
    "[fc00::1]",
    "[::ffff:127.0.0.1]",
    "localhost",
]


def refused(host: str) -> bool:
    try:
        url_policy.check_url(f"http://{host}:8080/v1")
    except url_policy.URLRefused:
        return True
    return False


@pytest.mark.parametrize("host", NEVER)
@pytest.mark.parametrize("policy", ["default", "public"])
def test_link_local_and_metadata_hosts_are_never_allowed(settings, host, policy) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_URL_POLICY = policy
    settings.PROVIDER_URL_ALLOW = ["169.254.0.0/16", "fe80::/10", "metadata.google.internal"]
    assert refused(host)


@pytest.mark.parametrize("host", NOT_PUBLIC)
def test_the_default_policy_allows_loopback_and_private_hosts(settings, host) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_URL_POLICY = "default"
    assert not refused(host)


@pytest.mark.parametrize("host", NOT_PUBLIC)
def test_the_public_policy_refuses_them_in_every_encoding(settings, host) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_URL_POLICY = "public"
    assert refused(host)


@pytest.mark.parametrize("host", ["8.8.8.8", "api.openai.com", "[2606:4700::1111]"])
def test_the_public_policy_allows_public_hosts(settings, host) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_URL_POLICY = "public"
    assert not refused(host)


def test_the_allow_list_opens_hosts_and_networks(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_URL_POLICY = "public"
    settings.PROVIDER_URL_ALLOW = ["10.0.0.0/8", "ollama.internal", "::1"]
    assert not refused("10.1.2.3")
    assert not refused("ollama.internal")
    assert not refused("[::1]")
    assert refused("192.168.1.1")


def test_every_resolved_address_is_judged() -> None:
    url_policy.check_addresses("ok.test", ["8.8.8.8", "127.0.0.1"])  # default: fine
    with pytest.raises(url_policy.URLRefused, match="never allowed"):
        url_policy.check_addresses("bad.test", ["8.8.8.8", "169.254.169.254"])


# --- at save -------------------------------------------------------------------------------


def create(api, base_url: str):  # type: ignore[no-untyped-def]
    body = {"name": "p", "base_url": base_url, "api_key": "sk-x", "models": ["m"]}
    return api.post("/api/providers", json.dumps(body), content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/v1",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://2852039166/v1",
    ],
)
def test_metadata_urls_are_refused_when_a_provider_is_created(api, base_url) -> None:  # type: ignore[no-untyped-def]
    response = create(api, base_url)
    assert response.status_code in (400, 422), response.content
    assert "base_url" in response.content.decode()
    assert Provider.objects.count() == 0


@pytest.mark.django_db
def test_a_patch_to_a_metadata_url_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    provider_id = create(api, "https://api.openai.com/v1").json()["id"]
    response = api.patch(
        f"/api/providers/{provider_id}",
        json.dumps({"base_url": "http://169.254.169.254/v1"}),
        content_type="application/json",
    )
    assert response.status_code in (400, 422)
    assert "base_url" in response.content.decode()
    assert Provider.objects.get().base_url == "https://api.openai.com/v1"


@pytest.mark.django_db
def test_the_model_and_the_admin_form_refuse_it(as_staff) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="base_url"):
        Provider(name="m", base_url="http://169.254.169.254/v1").full_clean()
    response = as_staff.post(
        "/admin/providers/provider/add/",
        {"name": "meta", "kind": "openai", "base_url": "http://169.254.169.254", "models": "[]"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "PROVIDER_URL_POLICY" in response.content.decode()
    assert not Provider.objects.exists()


@pytest.mark.django_db
def test_the_public_policy_refuses_loopback_at_save(api, settings) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_URL_POLICY = "public"
    assert create(api, "http://127.0.0.1:11434/v1").status_code in (400, 422)
    assert create(api, "http://0x7f000001:11434/v1").status_code in (400, 422)


# --- at test ---------------------------------------------------------------------------


DIRECT_KEY = "direct-probe-key-42"


def direct(api, base_url: str):  # type: ignore[no-untyped-def]
    body = {"base_url": base_url, "api_key": DIRECT_KEY}
    return api.post("/api/providers/test-direct", json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_test_direct_refuses_metadata_urls(api) -> None:  # type: ignore[no-untyped-def]
    response = direct(api, "http://169.254.169.254/latest")
    assert response.status_code in (400, 422)
    assert "base_url" in response.content.decode()


@pytest.mark.django_db
def test_test_direct_says_how_an_internal_server_answered_not_what(api, upstream) -> None:  # type: ignore[no-untyped-def]
    # Any server the policy allows may be probed, internal ones included: the detail is a
    # status line and a short scrubbed excerpt, never the page.
    detail = direct(api, upstream.url("unauthorized")).json()["detail"]
    assert detail.startswith("HTTP 401")
    assert len(detail) <= 120
    assert DIRECT_KEY not in detail


@pytest.fixture
def resolving_to(monkeypatch):  # type: ignore[no-untyped-def]
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.django_db
def test_a_probe_to_a_name_resolving_to_a_refused_address_is_refused_at_connect(
    api, upstream: FakeUpstream, resolving_to, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_URL_POLICY = "public"
    settings.PROVIDER_URL_ALLOW = ["models.example.test"]  # passes the save-time check...
    resolving_to["models.example.test"] = "127.0.0.1"  # ...but it resolves to loopback
    settings.PROVIDER_URL_ALLOW = []
    provider = Provider.objects.create(
        name="rebound", base_url=f"http://models.example.test:{upstream.port}/ok/v1"
    )

    result = api.post(f"/api/providers/{provider.pk}/test").json()

    assert result["status"] == "error"
    assert "PROVIDER_URL_POLICY" in result["detail"]
    assert upstream.seen == []


@pytest.mark.django_db
def test_a_probe_to_a_name_resolving_to_an_allowed_address_connects(
    api, upstream: FakeUpstream, resolving_to
) -> None:  # type: ignore[no-untyped-def]
    resolving_to["models.example.test"] = "127.0.0.1"
    provider = Provider.objects.create(
        name="named", base_url=f"http://models.example.test:{upstream.port}/ok/v1"
    )

    result = api.post(f"/api/providers/{provider.pk}/test").json()

    assert result["status"] == "online", result
    assert upstream.seen[0].headers["host"] == f"models.example.test:{upstream.port}"

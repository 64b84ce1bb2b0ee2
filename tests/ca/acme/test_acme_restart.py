"""The vendor stopped mid-order and started again (R16): nothing is lost or ordered twice.

Pebble keeps its state in memory, so a restarted pebble has forgotten the account and the
order: the resumed order is reported as gone (a clear error, not a retry loop), and the
caller re-registers with the sealed key and re-places the order once.
"""

from __future__ import annotations

import pytest
from vendor_world import (
    EAB_HMAC,
    EAB_KID,
    FAST_BACKOFF,
    TSIG,
    ZONE,
    RecordingJournal,
    free_port,
    issuer_for,
    registered,
    request_for,
    running_pebble,
    unique_names,
)

from certdesk.ca.acme.account import ExternalAccountBinding, key_from_pem, register
from certdesk.ca.acme.dns01 import NameServer, Rfc2136Solver
from certdesk.ca.acme.solvers import ChallengeResponses, Http01Solver
from certdesk.ca.issuer import IssuedChain, OrderPlaced, Pending
from certdesk.errors import NotFound, Unavailable

pytestmark = pytest.mark.timeout(120)


def test_pebble_restarted_mid_order(tmp_path_factory: pytest.TempPathFactory) -> None:
    store = ChallengeResponses()
    http01 = Http01Solver(store.publish, store.withdraw)
    down_dns = Rfc2136Solver(zone=ZONE, primary=NameServer("127.0.0.1", free_port()), tsig=TSIG)
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as pebble:
        account = registered(pebble)
        sealed = account.key_pem()
        request = request_for(unique_names("www", "api"))
        journal = RecordingJournal()
        pending = issuer_for(pebble, account, down_dns).issue(request, journal)
        assert isinstance(pending, Pending)
        issuer = issuer_for(pebble, account, http01)

        pebble.stop()
        # The vendor is down: the order stays pending, with the vendor's reason.
        still = issuer.resume(request, pending, journal)
        assert isinstance(still, Pending)
        assert still.state == "unreachable"
        assert still.handle == pending.handle
        with pytest.raises(Unavailable):
            registered(pebble)

        pebble.start()
        # Back, but with its memory wiped: the account (and so the order) is gone.
        with pytest.raises(NotFound) as gone:
            issuer.resume(request, still, journal)
        assert gone.value.code == "acme.account_gone"

        # The caller re-registers with the sealed key and places the order once more.
        again = register(
            pebble.endpoint,
            ExternalAccountBinding(EAB_KID, EAB_HMAC),
            key=key_from_pem(sealed),
            backoff=FAST_BACKOFF,
        )
        issued = issuer_for(pebble, again, http01).issue(request, journal)
        assert isinstance(issued, IssuedChain)
        placed = [i for i in journal.intents if isinstance(i, OrderPlaced)]
        assert len(placed) == 2 and placed[0].order_url != placed[1].order_url

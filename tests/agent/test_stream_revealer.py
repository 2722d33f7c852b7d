from moesaic.agent.pii import StreamRevealer
from moesaic.privacy import PiiVault


def test_placeholder_split_across_deltas_is_restored() -> None:
    vault = PiiVault()
    vault.hide("jane@example.com")
    revealer = StreamRevealer(vault)
    pieces = [revealer.push(p) for p in ["Mail <EM", "AIL_1> now", " or <", "3 items"]] + [revealer.flush()]
    assert "".join(pieces) == "Mail jane@example.com now or <3 items"
    assert pieces[0] == "Mail "

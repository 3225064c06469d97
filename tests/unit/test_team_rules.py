from shared.teams.rules import PRESIDENT, rules_for

RULES = rules_for("HP")
REQUIRED = [key for key, role in RULES.roles.items() if role.min]


def full_team(women: int = 3) -> list[tuple[str, str]]:
    return [(role, "female" if i < women else "male") for i, role in enumerate(REQUIRED)]


def test_a_team_with_every_required_role_and_three_women_is_complete():
    assert RULES.is_complete(full_team(women=3))
    assert RULES.missing(full_team(women=3)) == {}


def test_a_team_with_two_women_is_not_complete_and_says_so():
    assert not RULES.is_complete(full_team(women=2))
    assert RULES.missing(full_team(women=2)) == {"women": 1}


def test_a_team_without_a_president_is_not_complete():
    team = [m for m in full_team(women=4) if m[0] != PRESIDENT]
    assert RULES.missing(team) == {PRESIDENT: 1}


def test_a_second_president_is_refused():
    assert "already filled" in RULES.violation([(PRESIDENT, "male")], PRESIDENT)


def test_a_thirteenth_member_is_refused():
    team = full_team() + [("member", "male")] * (12 - len(REQUIRED))
    assert len(team) == 12
    assert "12 members" in RULES.violation(team, "member")


def test_an_unknown_role_is_refused_by_name():
    assert "unknown role 'treasurer'" in RULES.violation([], "treasurer")


def test_a_state_overrides_only_what_it_names():
    ladakh = rules_for("LA")
    assert ladakh.min_women == 2
    assert ladakh.max_members == RULES.max_members
    assert ladakh.roles == RULES.roles

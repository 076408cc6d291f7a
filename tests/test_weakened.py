"""A test the change made weaker is named for the reviewer, though the referee cannot see it.

Each weakening is checked against its base: the same file unchanged says nothing (the control
that the comparison, not the text, fires), and the weakened one names the kind of weakening.
"""

import textwrap

import pytest

from gatekeeper.core.testchecks import MAX_CHARS
from gatekeeper.core.weakened import ACK, weakened


def _src(text: str) -> str:
    return "import pytest\nimport unittest\n\n\n" + textwrap.dedent(text).lstrip()


def _rules(base: str, head: str) -> list[str]:
    return [f.rule.removeprefix("weakened-test/") for f in weakened("tests/test_x.py",
                                                                     _src(base), _src(head))]


WEAKENINGS = {
    "or-true": ("always-true", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        def test_name(user):
            assert user.name == "bob" or True
        """),
    "assert-true": ("always-true", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        def test_name(user):
            assert True
        """),
    "assert-one": ("always-true", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        def test_name(user):
            assert 1
        """),
    "excluded-middle": ("always-true", """
        def test_ok(resp):
            assert resp.ok
        """, """
        def test_ok(resp):
            assert resp.ok or not resp.ok
        """),
    "compared-with-itself": ("always-true", """
        def test_total(cart):
            assert cart.total() == 30
        """, """
        def test_total(cart):
            assert cart.total() == cart.total()
        """),
    "tuple-with-message": ("always-true", """
        def test_total(cart):
            assert cart.total() == 30, "total"
        """, """
        def test_total(cart):
            assert (cart.total() == 30, "total")
        """),
    "unittest-equal-to-itself": ("always-true", """
        class TestCart(unittest.TestCase):
            def test_total(self):
                self.assertEqual(total(), 30)
        """, """
        class TestCart(unittest.TestCase):
            def test_total(self):
                self.assertEqual(total(), total())
        """),
    "swallowed-by-try": ("always-true", """
        def test_total(cart):
            assert cart.total() == 30
        """, """
        def test_total(cart):
            try:
                assert cart.total() == 30
            except AssertionError:
                pass
        """),
    "swallowed-by-suppress": ("always-true", """
        import contextlib
        def test_total(cart):
            assert cart.total() == 30
        """, """
        import contextlib
        def test_total(cart):
            with contextlib.suppress(Exception):
                assert cart.total() == 30
        """),
    "equality-to-in": ("less-strict", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        def test_name(user):
            assert "bob" in user.name
        """),
    "equality-to-not-none": ("less-strict", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        def test_name(user):
            assert user.name is not None
        """),
    "equality-to-truthiness": ("less-strict", """
        def test_status(resp):
            assert resp.status_code == 200
        """, """
        def test_status(resp):
            assert resp.status_code
        """),
    "assert-equal-to-assert-true": ("less-strict", """
        class TestUser(unittest.TestCase):
            def test_name(self):
                self.assertEqual(user().name, "bob")
        """, """
        class TestUser(unittest.TestCase):
            def test_name(self):
                self.assertTrue(user().name)
        """),
    "approx-widened": ("less-strict", """
        def test_mean():
            assert mean([1, 2]) == pytest.approx(1.5, rel=1e-6)
        """, """
        def test_mean():
            assert mean([1, 2]) == pytest.approx(1.5, rel=0.5)
        """),
    "equality-to-approx": ("less-strict", """
        def test_mean():
            assert mean([1, 2]) == 1.5
        """, """
        def test_mean():
            assert mean([1, 2]) == pytest.approx(1.5, abs=1)
        """),
    "none-to-falsy": ("less-strict", """
        def test_missing(store):
            assert store.get("x") is None
        """, """
        def test_missing(store):
            assert not store.get("x")
        """),
    "mock-called-with-to-called": ("less-strict", """
        def test_sends(mailer):
            notify(mailer)
            mailer.send.assert_called_once_with("bob", "hi")
        """, """
        def test_sends(mailer):
            notify(mailer)
            mailer.send.assert_called()
        """),
    "raises-exception": ("exception-broadened", """
        def test_bad():
            with pytest.raises(ValueError):
                parse("x")
        """, """
        def test_bad():
            with pytest.raises(Exception):
                parse("x")
        """),
    "raises-tuple-grown": ("exception-broadened", """
        def test_bad():
            with pytest.raises(ValueError):
                parse("x")
        """, """
        def test_bad():
            with pytest.raises((ValueError, TypeError)):
                parse("x")
        """),
    "match-removed": ("exception-broadened", """
        def test_bad():
            with pytest.raises(ValueError, match="not a number"):
                parse("x")
        """, """
        def test_bad():
            with pytest.raises(ValueError):
                parse("x")
        """),
    "regex-to-plain-raises": ("exception-broadened", """
        class TestParse(unittest.TestCase):
            def test_bad(self):
                self.assertRaisesRegex(ValueError, "not a number", parse, "x")
        """, """
        class TestParse(unittest.TestCase):
            def test_bad(self):
                self.assertRaises(ValueError, parse, "x")
        """),
    "skip-decorator": ("skip-added", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        @pytest.mark.skip(reason="flaky")
        def test_name(user):
            assert user.name == "bob"
        """),
    "xfail-decorator": ("skip-added", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        @pytest.mark.xfail
        def test_name(user):
            assert user.name == "bob"
        """),
    "skipif-always": ("skip-added", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        @pytest.mark.skipif(True, reason="later")
        def test_name(user):
            assert user.name == "bob"
        """),
    "skip-call": ("skip-added", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        def test_name(user):
            pytest.skip("later")
            assert user.name == "bob"
        """),
    "unittest-skip": ("skip-added", """
        class TestUser(unittest.TestCase):
            def test_name(self):
                self.assertEqual(user().name, "bob")
        """, """
        class TestUser(unittest.TestCase):
            @unittest.skip("later")
            def test_name(self):
                self.assertEqual(user().name, "bob")
        """),
    "skip-test-call": ("skip-added", """
        class TestUser(unittest.TestCase):
            def test_name(self):
                self.assertEqual(user().name, "bob")
        """, """
        class TestUser(unittest.TestCase):
            def test_name(self):
                self.skipTest("later")
                self.assertEqual(user().name, "bob")
        """),
    "class-skipped": ("skip-added", """
        class TestUser:
            def test_name(self):
                assert user().name == "bob"
        """, """
        @pytest.mark.skip
        class TestUser:
            def test_name(self):
                assert user().name == "bob"
        """),
    "module-skipped": ("skip-added", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        pytestmark = pytest.mark.skip(reason="later")
        def test_name(user):
            assert user.name == "bob"
        """),
    "renamed-out-of-collection": ("skip-added", """
        def test_name(user):
            assert user.name == "bob"
        """, """
        def _test_name(user):
            assert user.name == "bob"
        """),
    "not-collected": ("skip-added", """
        class TestUser:
            def test_name(self):
                assert user().name == "bob"
        """, """
        class TestUser:
            __test__ = False
            def test_name(self):
                assert user().name == "bob"
        """),
    "param-marked-skip": ("skip-added", """
        @pytest.mark.parametrize("n", [1, 2])
        def test_even(n):
            assert double(n) % 2 == 0
        """, """
        @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.xfail)])
        def test_even(n):
            assert double(n) % 2 == 0
        """),
    "cases-dropped": ("cases-dropped", """
        @pytest.mark.parametrize("n, out", [(1, 2), (2, 4), (-1, -2)])
        def test_double(n, out):
            assert double(n) == out
        """, """
        @pytest.mark.parametrize("n, out", [(1, 2), (2, 4)])
        def test_double(n, out):
            assert double(n) == out
        """),
    "module-cases-dropped": ("cases-dropped", """
        CASES = [(1, 2), (2, 4), (-1, -2)]
        @pytest.mark.parametrize("n,out", CASES)
        def test_double(n, out):
            assert double(n) == out
        """, """
        CASES = [(1, 2)]
        @pytest.mark.parametrize("n,out", CASES)
        def test_double(n, out):
            assert double(n) == out
        """),
    "assertion-removed": ("assertions-removed", """
        def test_user(user):
            assert user.name == "bob"
            assert user.admin is False
        """, """
        def test_user(user):
            assert user.name == "bob"
        """),
    "mock-check-removed": ("assertions-removed", """
        def test_sends(mailer):
            notify(mailer)
            mailer.send.assert_called_once_with("bob", "hi")
        """, """
        def test_sends(mailer):
            notify(mailer)
        """),
}


@pytest.mark.parametrize("case", sorted(WEAKENINGS))
def test_each_weakening_is_named(case):
    kind, base, head = WEAKENINGS[case]
    assert _rules(base, base) == []  # control: the base against itself says nothing
    assert _rules(head, head) == []
    assert kind in _rules(base, head), _rules(base, head)


def test_a_finding_needs_acknowledgement_and_shows_both_versions_on_the_changed_line():
    base = _src("""
        class TestUser:
            def test_name(self, user):
                assert user.name == "bob"
        """)
    head = base.replace('"bob"', '"bob" or True')
    (finding,) = weakened("tests/test_user.py", base, head)
    assert finding.rule == "weakened-test/always-true" and finding.waived_by == ACK
    assert not finding.blocking and finding.path == "tests/test_user.py"
    assert finding.start_line == head.splitlines().index(
        "        assert user.name == \"bob\" or True") + 1
    assert "TestUser::test_name" in finding.message
    assert "base `assert user.name == 'bob'` | change `assert user.name == 'bob' or True`" \
        in finding.message
    assert "\n" not in finding.message


def test_a_test_removed_from_a_file_that_stays_is_a_notice_only():
    base = _src("""
        def test_a():
            assert f() == 1
        def test_b():
            assert g() == 2
        """)
    head = _src("""
        def test_a():
            assert f() == 1
        """)
    (finding,) = weakened("tests/test_x.py", base, head)
    assert finding.rule == "weakened-test/test-removed" and "test_b" in finding.message
    assert finding.severity == "low" and not finding.blocking and not finding.waived_by
    # a renamed test with the same body is not a removed one
    assert weakened("tests/test_x.py", base, base.replace("test_b", "test_g_is_two")) == []


BENIGN = {
    "variable-renamed": ("""
        def test_status(client):
            resp = client.get("/")
            assert resp.status_code == 200
        """, """
        def test_status(client):
            response = client.get("/")
            assert response.status_code == 200
        """),
    "assertion-added": ("""
        def test_status(resp):
            assert resp.status_code == 200
        """, """
        def test_status(resp):
            assert resp.status_code == 200
            assert resp.json() == {"ok": True}
        """),
    "made-stricter": ("""
        def test_name(user):
            assert "bob" in user.name
            assert user.age
        """, """
        def test_name(user):
            assert user.name == "bob"
            assert user.age == 42
        """),
    "reformatted": ("""
        def test_name(user):
            assert user.name == "bob", "name"
        """, """
        def test_name(user):
            # the user's name
            assert (
                user.name
                == "bob"
            ), 'name'
        """),
    "new-test": ("""
        def test_name(user):
            assert user.name == "bob"
        """, """
        def test_name(user):
            assert user.name == "bob"
        def test_age(user):
            assert user.age > 0
        """),
    "moved-into-a-helper": ("""
        def test_user(user):
            assert user.name == "bob"
            assert user.age == 42
        """, """
        def check_bob(user):
            assert user.name == "bob"
            assert user.age == 42
        def test_user(user):
            check_bob(user)
        """),
    "moved-into-a-method": ("""
        class TestUser:
            def test_user(self, user):
                assert user.name == "bob"
        """, """
        class TestUser:
            def _check(self, user):
                assert user.name == "bob"
            def test_user(self, user):
                self._check(user)
        """),
    "docstring-and-setup-changed": ("""
        def test_name(make_user):
            user = make_user()
            assert user.name == "bob"
        """, """
        def test_name(make_user):
            \"\"\"The default user is bob.\"\"\"
            user = make_user(admin=False)
            assert user.name == "bob"
        """),
    "cases-added": ("""
        @pytest.mark.parametrize("n", [1, 2])
        def test_even(n):
            assert double(n) % 2 == 0
        """, """
        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_even(n):
            assert double(n) % 2 == 0
        """),
    "narrower-exception-with-match": ("""
        def test_bad():
            with pytest.raises(Exception):
                parse("x")
        """, """
        def test_bad():
            with pytest.raises(ValueError, match="not a number"):
                parse("x")
        """),
    "skip-on-a-real-condition": ("""
        import sys
        def test_path():
            assert split("a/b") == ["a", "b"]
        """, """
        import sys
        @pytest.mark.skipif(sys.platform == "win32", reason="posix paths")
        def test_path():
            if sys.version_info < (3, 9):
                pytest.skip("needs 3.9")
            assert split("a/b") == ["a", "b"]
        """),
    "tolerance-narrowed": ("""
        def test_mean():
            assert mean([1, 2]) == pytest.approx(1.5, rel=0.1)
        """, """
        def test_mean():
            assert mean([1, 2]) == pytest.approx(1.5, rel=1e-9)
        """),
    "emptiness-said-the-pythonic-way": ("""
        def test_empty(cart):
            assert cart.items == []
            assert len(cart.errors) == 0
        """, """
        def test_empty(cart):
            assert not cart.items
            assert not cart.errors
        """),
    "unittest-to-pytest": ("""
        class TestCart(unittest.TestCase):
            def test_total(self):
                cart = make()
                self.assertEqual(cart.total(), 30)
                self.assertIn("apple", cart.names())
                with self.assertRaises(ValueError):
                    cart.add(-1)
        """, """
        class TestCart:
            def test_total(self):
                cart = make()
                assert cart.total() == 30
                assert "apple" in cart.names()
                with pytest.raises(ValueError):
                    cart.add(-1)
        """),
    "operands-swapped-and-message-added": ("""
        def test_total(cart):
            assert cart.total() == 30
        """, """
        def test_total(cart):
            assert 30 == cart.total(), cart.items
        """),
    "exception-narrowed-to-a-subclass": ("""
        def test_bad():
            with pytest.raises(ValueError):
                parse("x")
        """, """
        def test_bad():
            with pytest.raises(ParseError):
                parse("x")
        """),
    "expected-value-changed": ("""
        def test_total(cart):
            assert cart.total() == 30
        """, """
        def test_total(cart):
            assert cart.total() == 31
        """),
}


@pytest.mark.parametrize("case", sorted(BENIGN))
def test_an_ordinary_edit_says_nothing(case):
    base, head = BENIGN[case]
    assert _src(base) != _src(head)
    assert _rules(base, head) == []


def test_a_file_that_cannot_be_compared_asks_for_acknowledgement():
    base = _src("""
        def test_a():
            assert f() == 1
        """)
    for head, why in ((base + "def broken(:\n", "not parsed"),
                      (base + "#" * MAX_CHARS, "over")):
        (finding,) = weakened("tests/test_x.py", base, head)
        assert finding.rule == "weakened-test/not-compared" and finding.waived_by == ACK
        assert why in finding.message
    deep = base + "x = " + "[" * 5000 + "]" * 5000 + "\n"
    assert [f.rule for f in weakened("tests/test_x.py", base, deep)] == [
        "weakened-test/not-compared"]


MOVED_BASE = """
def test_total(cart):
    assert cart.total() == 30
    assert cart.count() == 3


def test_name(user):
    assert user.name == "bob"
"""
BRANCHED_FROM = MOVED_BASE.replace("    assert cart.count() == 3\n", "")  # before main added it


def _patch(before: str, after: str) -> str:
    import difflib
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return "\n".join(row for row in lines if not row.startswith(("---", "+++")))


def test_what_the_base_branch_added_since_the_change_started_is_not_the_changes_weakening():
    # the change edits test_name only; its branch started before main strengthened test_total
    head = BRANCHED_FROM.replace('"bob"', '"bob"\n    assert user.age == 42')
    patch = _patch(BRANCHED_FROM, head)
    # control: compared as a whole, main's new assertion reads as removed by the change
    assert [f.rule for f in weakened("tests/test_x.py", MOVED_BASE, head)] == [
        "weakened-test/assertions-removed"]
    assert weakened("tests/test_x.py", MOVED_BASE, head, patch) == []
    # a weakening on the lines the change touched is still seen with the patch
    weaker = BRANCHED_FROM.replace('"bob"', '"bob" or True')
    assert [f.rule for f in weakened("tests/test_x.py", MOVED_BASE, weaker,
                                     _patch(BRANCHED_FROM, weaker))] == [
        "weakened-test/always-true"]


def test_a_helper_the_change_weakened_is_seen_through_the_test_that_calls_it():
    base = _src("""
        def check(user):
            assert user.name == "bob"
            assert user.age == 42

        def test_user(user):
            check(user)
        """)
    head = base.replace('    assert user.age == 42\n', "")
    found = weakened("tests/test_x.py", base, head, _patch(base, head))
    assert [f.rule for f in found] == ["weakened-test/assertions-removed"]
    assert "test_user: 1 assertion where the base had 2" in found[0].message


def test_many_weakenings_are_listed_within_bounds_and_the_rest_counted():
    from gatekeeper.core.weakened import PER_FILE, PER_TEST
    one = "def test_c(x):\n" + "    assert f(x) == 1\n" * 200
    many = "".join(f"def test_{i}(x):\n    assert f(x) == {i}\n" for i in range(300))
    for base, listed in ((one, PER_TEST), (many, PER_FILE)):
        found = weakened("tests/test_x.py", base, base.replace(" == ", " or True or "))
        assert len(found) == listed and all(f.waived_by == ACK for f in found)
    found = weakened("tests/test_x.py", many, many.replace(" == ", " or True or "))
    assert found[-1].rule == "weakened-test/many" and "251 more" in found[-1].message


def test_the_service_compares_the_test_files_the_change_modified_within_its_budget():
    from gatekeeper.core.model import ChangedFile
    from gatekeeper.service import weakening

    base = _src("""
        def test_name(user):
            assert user.name == "bob"
        """)
    weaker = base.replace('"bob"', '"bob" or True')
    head = {"tests/test_a.py": weaker, "src/app_test.py": weaker, "app.py": weaker,
            "tests/helpers.py": weaker, "tests/test_new.py": weaker, "tests/test_same.py": base}
    files = [ChangedFile("tests/test_a.py"), ChangedFile("src/app_test.py", "renamed",
                                                          "src/old_test.py"),
             ChangedFile("app.py"), ChangedFile("tests/helpers.py"),
             ChangedFile("tests/test_new.py", "added"), ChangedFile("tests/test_same.py")]
    olds = {"src/old_test.py": base, "tests/test_a.py": base, "app.py": base,
            "tests/helpers.py": base, "tests/test_same.py": base}
    found = weakening.weakened_tests(files, olds.get, head.get)
    assert sorted(f.path for f in found) == ["src/app_test.py", "tests/helpers.py",
                                             "tests/test_a.py"]  # not app.py, nor an added file
    assert {f.rule for f in found} == {"weakened-test/always-true"}

    def broken(path):
        raise ConnectionError("the API is down")

    (unread,) = weakening.weakened_tests(files[:1], broken, head.get)
    assert unread.rule == "weakened-test/not-compared" and unread.waived_by == ACK
    assert "not read: ConnectionError" in unread.message
    big = {"tests/test_a.py": weaker + "#" * weakening.MAX_TOTAL_CHARS}
    (over,) = weakening.weakened_tests(files[:1], olds.get, big.get)
    assert over.rule == "weakened-test/not-compared" and "budget" in over.message


def test_the_tests_stage_shows_a_weakened_test_the_referee_cannot_see(wheel_cache):
    """Real stages: the suite (a command that passes) says nothing; the comparison of the
    edited test file with the base's, from the base tree or the base's texts, does."""
    from factories import policy
    from test_stages import fetch_tree

    from gatekeeper.core.model import ChangedFile
    from gatekeeper.service import stages
    from gatekeeper.service.settings import load_stage_config

    base = _src("""
        def test_name(user):
            assert user.name == "bob"
        """)
    weaker = base.replace('"bob"', '"bob" or True')
    config = load_stage_config({"GATEKEEPER_CACHE_DIR": str(wheel_cache)})
    gate = policy("stages:\n  sast: false\n  dependencies: false\ntests:\n  command: 'true'\n")
    files = [ChangedFile("tests/test_user.py", patch=_patch(base, weaker))]

    def rules(head, **kw):
        results = stages.run_stages(gate, fetch_tree({"tests/test_user.py": head}), files,
                                    config=config, **kw)
        return [f.rule for f in results["tests"].findings if f.rule.startswith("weakened-test")]

    assert rules(base, base_text={"tests/test_user.py": base}.get) == []  # control
    assert rules(weaker, base_text={"tests/test_user.py": base}.get) == [
        "weakened-test/always-true"]

    def unused(path):
        raise AssertionError("the base tree was fetched: its text is read from there")

    assert rules(weaker, base_text=unused, fetch_base=fetch_tree(
        {"tests/test_user.py": base})) == ["weakened-test/always-true"]

"""A big rendered text is loaded in pieces by forked processes: the same documents as one load, and the
same errors at the same lines."""

import subprocess
import sys
import threading
from pathlib import Path

import jinja2
import pytest
import yaml

from reconciler import parallel_yaml
from reconciler.userdata import Loader, load_all


def _fleet_text(hosts: int) -> str:
    docs = [f"---\nci: host-{n:05d}\nkind: server\nport: {n}\nflag: {'yes' if n % 2 else 'no'}\n"
            f"when: 2024-01-{1 + n % 28:02d}\ndesired:\n  packages: {{nginx: \"1.{n % 7}.*\", telnetd: absent}}\n"
            f"  note: |\n    block {n}\n    ---not a marker\n" for n in range(hosts)]
    return "# fleet\n" + "".join(docs) + "...\n---\n---\nlast: [1, 2.5, ~]\n"


def _whole_error(text: str) -> tuple[str, int]:
    with pytest.raises(yaml.YAMLError) as caught:
        load_all(text)
    return str(caught.value), caught.value.problem_mark.line


@pytest.fixture
def forkable():
    """Pieces are only forked from a single-threaded process; a thread some earlier test left running
    makes these in-process checks moot (the subprocess tests below cover the same ground)."""
    if threading.active_count() > 1:
        pytest.skip("another thread is running in this test process")


def test_pieces_give_the_documents_of_one_load(forkable):
    text = _fleet_text(400)
    assert len(parallel_yaml._cuts(text, 4, min_split=0)) == 3
    assert parallel_yaml.load_documents(text, min_split=0) == load_all(text)


@pytest.mark.parametrize("broken", ["  packages: [unclosed\n", "desired: twice\n", "note: 'open\n---\nx: 1\n"])
def test_an_error_in_a_later_piece_is_the_error_of_one_load(forkable, broken):
    text = _fleet_text(400)
    cut = text.index("---\nci: host-00350")
    text = text[:cut] + "---\nci: broken\ndesired: {}\n" + broken + text[cut:]
    message, line = _whole_error(text)
    with pytest.raises(yaml.YAMLError) as caught:
        parallel_yaml.load_documents(text, min_split=0)
    assert (str(caught.value), caught.value.problem_mark.line) == (message, line)


def test_a_text_with_a_directive_is_loaded_whole(forkable):
    text = "%YAML 1.1\n" + _fleet_text(50)
    assert parallel_yaml._cuts(text, 2, min_split=0) == []
    assert parallel_yaml.load_documents(text, min_split=0) == load_all(text)


def test_a_big_stamped_template_with_a_broken_document_names_its_line(project):
    """End to end, in a fresh `reconcile validate` process (single-threaded, so the text is split)."""
    project.write("inventories/hosts.ini", "[web]\nweb-01\n")
    body = "".join(f"    package-number-{i}: \"{i}.*\"\n" for i in range(24))
    template = ("{% for n in range(6000) %}\n---\nci: node-{{ n }}\nkind: server\ndesired:\n  packages:\n" + body
                + "{% if n == 5000 %}  services: [open\n{% endif %}{% endfor %}\n")
    project.write("desired/fleet.yml.j2", template)
    rendered = jinja2.Template(template, keep_trailing_newline=True).render()
    assert len(rendered) > parallel_yaml.MIN_SPLIT
    _, line = _whole_error(rendered)
    assert line > 5000 * 30  # in the last piece
    done = subprocess.run([sys.executable, "-m", "reconciler", "--project", str(project.root), "validate"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert f"desired/fleet.yml.j2:{line + 1}: YAML syntax error: did not find expected ',' or ']'" in done.stderr


def test_pieces_forked_from_a_fresh_process_give_the_documents_of_one_load(tmp_path):
    script = tmp_path / "check.py"
    script.write_text("import sys\nsys.path.insert(0, sys.argv[1])\n"
                      "from test_parallel_yaml import _fleet_text\n"
                      "from reconciler import parallel_yaml\nfrom reconciler.userdata import load_all\n"
                      "text = _fleet_text(400)\nassert len(parallel_yaml._cuts(text, 2, min_split=0)) == 1\n"
                      "assert parallel_yaml.load_documents(text, min_split=0) == load_all(text)\nprint('same')\n")
    done = subprocess.run([sys.executable, str(script), str(Path(__file__).parent)], capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == "same", done.stderr


SAME_AS_PYYAML = [
    "a: 1\nb: [1, 2.5, yes, no, null, ~, '1', 0x10, 1_000, .inf, -.nan, 1:20, 017, 0o17]\nc: {d: e}\n",
    "---\n---\na: 1\n...\n--- x\n", "a: 2001-12-14\n", "a: !!binary aGVsbG8=\n", "<<: {a: 1}\nb: 2\n",
    "a: !!set {x, y}\n", "a: |\n  x\n  y\nb: >-\n  z\n", "a: 'yes'\nb: \"1\"\nc: ''\nd:\n", "true: 1\nyes: 2\n",
    "a: !!int '12'\nb: !!str 12\nc: !!float '1'\nd: !!null ''\ne: !!bool 'yes'\n", "", "# only a comment\n",
]
NOT_PYYAML = ["? [1]\n: 2\n", "a: 1\na: 2\n", "{a: 1, a: 2}", "a: !!str {b: 1}\n", "a: !!map [1, 2]\n",
              "a: !!seq {b: 1}\n", "a: !foo x\n", "a: [1\n"]


@pytest.mark.parametrize("text", SAME_AS_PYYAML)
def test_documents_without_anchors_load_as_pyyaml_loads_them(text):
    """The small constructor for anchor-free documents gives PyYAML's values, types and all."""
    expected = list(yaml.load_all(text, Loader=Loader))
    assert repr(load_all(text)) == repr(expected)


@pytest.mark.parametrize("text", NOT_PYYAML)
def test_what_pyyaml_refuses_is_refused_with_its_message(text):
    with pytest.raises(yaml.YAMLError) as caught:
        load_all(text)
    with pytest.raises(yaml.YAMLError) as theirs:
        list(yaml.load_all(text, Loader=Loader))  # PyYAML's libyaml loader with our duplicate-key check
    assert str(caught.value) == str(theirs.value)

"""--format's Go templates (pycontainer/gotemplate.py): the examples docker's documentation gives
for `docker inspect`, `ps` and `images`, Go's control structures, and one-line errors."""

import pytest

from pycontainer import gotemplate as g
from pycontainer.errors import PyContainerError

REC = {
    "Id": "abc", "Name": "/web", "LogPath": "/var/lib/x/json.log",
    "State": {"Running": True, "Pid": 42, "Status": "running", "Health": None},
    "Config": {"Image": "busybox", "Env": ["A=1", "B=2"], "Labels": {"b": "2", "a": "1"}},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.89.0.5"}, "n2": {"IPAddress": "10.90.0.3"}},
                        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
    "Mounts": [{"Source": "/a", "Destination": "/b"}, {"Source": "/c", "Destination": "/d"}],
}


@pytest.mark.parametrize("tmpl,want", [
    # docker inspect's documented examples
    ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "10.89.0.510.90.0.3"),
    ("{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}",
     " 80/tcp -> 8080 "),
    ("{{.LogPath}}", "/var/lib/x/json.log"),
    ("{{.Config.Image}}", "busybox"),
    ("{{json .Config.Env}}", '["A=1","B=2"]'),                       # Go's Marshal: compact
    ("{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}", "8080"),
    # control structures
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if not .State.Running}}down{{else if eq .State.Pid 41 42}}42{{else}}?{{end}}", "42"),
    ("{{with .State}}{{.Pid}}{{end}}{{with .State.Health}}x{{else}}none{{end}}", "42none"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),     # key order
    ("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}", "0:A=1 1:B=2 "),
    ("{{range .Mounts}}{{.Source}}->{{.Destination}}\\n{{end}}", "/a->/b\n/c->/d\n"),
    ("{{range .Config.Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}}{{end}}", "A=1"),
    ("{{range .Config.Env}}{{if eq . \"A=1\"}}{{continue}}{{end}}{{.}}{{end}}", "B=2"),
    ("{{range .Nothing}}x{{else}}empty{{end}}", None),
    ("{{- range .Config.Env }}\n  {{ . }}\n{{- end }}", "\n  A=1\n  B=2"),
    ("{{/* a comment */}}{{$x := .State.Pid}}{{$x}}{{$x = 7}} {{$x}}", "42 7"),
    # pipelines and functions
    ("{{.Name | printf \"%s!\"}}", "/web!"),
    ("{{printf \"%-8s|%5d|%q\" .Config.Image .State.Pid .Name}}", 'busybox |   42|"/web"'),
    ("{{len .Config.Env}} {{index .Config.Env 1}} {{join .Config.Env \",\"}}", "2 B=2 A=1,B=2"),
    ("{{upper .Config.Image | lower}} {{title \"a b\"}} {{split \"a,b\" \",\"}}", "busybox A B [a b]"),
    ("{{index .Config.Labels \"zz\"}} {{.State.Health}}", "<no value> <no value>"),
    ("{{and .State.Running .Name}} {{or \"\" \"x\"}} {{not 0}}", "/web x true"),
    ("{{println \"a\" 1}}", "a 1\n"),
    ("{{.Config.Labels}} {{.Config.Env}}", "map[a:1 b:2] [A=1 B=2]"),
    ("{{truncate .Name 2}}|{{pad .Config.Image 1 1}}|", "/w| busybox |"),
    ("{{if gt (len .Mounts) 1}}many{{end}}", "many"),
])
def test_renders_as_go(tmpl, want):
    if want is None:                       # a field the record lacks: Go's error, as docker's
        with pytest.raises(PyContainerError):
            g.render(tmpl, REC)
        return
    assert g.render(tmpl, REC) == want


@pytest.mark.parametrize("tmpl", [
    "{{.State.Nope}}", "{{if .State.Running}}", "{{end}}", "{{foo .}}", "{{.Name", "{{(.Name}}",
    "{{range .Config.Env}}{{else}}{{else}}{{end}}", "{{$nope}}", "{{break}}", "{{.Name .Id}}",
    "{{/* open }}", "{{}}",
])
def test_bad_templates_are_one_line_errors(tmpl):
    with pytest.raises(PyContainerError) as ei:
        g.render(tmpl, REC)
    assert "\n" not in str(ei.value) and str(ei.value).startswith("template ")


def test_table_has_docker_headers_and_tabwriter_columns():
    rows = [{"Names": "web", "Image": "busybox:latest"}, {"Names": "a-long-name-here", "Image": "x"}]
    out = g.listing("table {{.Names}}\\t{{.Image}}", rows, {"Names": "NAMES", "Image": "IMAGE"})
    assert out == ["NAMES              IMAGE", "web                busybox:latest",
                   "a-long-name-here   x"]
    assert g.listing("{{.Names}}", rows, {}) == ["web", "a-long-name-here"]
    # the minimum width of a column is 10, as docker's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
    assert g.tabwrite(["a\tb", "cc\td"]) == ["a         b", "cc        d"]


def test_listing_json_is_an_object_a_line():
    rows = [{"Name": "a", "ID": "1"}, {"Name": "b", "ID": "2"}]
    assert g.listing("json", rows, {}) == ['{"Name": "a", "ID": "1"}', '{"Name": "b", "ID": "2"}']

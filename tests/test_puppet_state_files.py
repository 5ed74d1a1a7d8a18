"""The task's parsers of Puppet's state files, on files a real Puppet agent wrote: one
`puppet agent -t` (Puppet 7.23, Debian) against Debian's puppetserver 7.9.5 with a generated
CA, of a manifest that changes a file and restarts the app through a refresh
(scripts/puppet-agent-run.sh; the files are in tests/scenarios/puppet-real-agent-run)."""
import scenario_runner


def changes_section(result):
    return next(s for s in result["sections"] if s["id"] == "changes")


def test_the_real_agents_run_is_what_changed_on_this_box(tmp_path):
    scenario = scenario_runner.load("puppet-real-agent-run")
    result = scenario_runner.run(scenario, str(tmp_path))
    finding = next(f for f in result["findings"] if f["code"] == "puppet-change")
    assert finding["severity"] == "warning"
    assert finding["message"] == ("Puppet changed 2 resource(s) 3 min before the event: "
                                  "File[/var/lib/autodiag-demo/puppet/app.conf], Exec[restart autodiag-demo-app]")
    text = changes_section(result)["body"]
    # the summary is read where Puppet 6+ writes it (publicdir), not only beside the report
    assert "status changed, 2 of 9 resources changed, 0 failed, config 1796460527" in text
    assert "/opt/puppetlabs/puppet/public/last_run_summary.yaml" in changes_section(result)["command"]

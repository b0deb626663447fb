"""Run folders of the members of a cross-fitted ensemble (`members/member_N/` in the run)."""

from apps.core.runs import Run


class MemberRuns:
    """One run folder per ensemble member inside the ensemble's run (`members/member_N/`):
    its own backup, TensorBoard logs and history while it trains, its weights once done.
    Training the same run again restores the finished members and resumes the one it was on."""

    def __init__(self, run):
        self.run = run

    def member_run(self, index):
        return Run(self.run.app_name, self.run.path / "members" / f"member_{index + 1}")

    def started(self):
        """The member runs that exist, in member order."""
        count = len(list((self.run.path / "members").glob("member_*")))
        return [self.member_run(index) for index in range(count)]

    def weights_path(self, index):
        return self.member_run(index).path / "model.weights.h5"

    def restore(self, member, index):
        path = self.weights_path(index)
        if not path.exists():
            return False
        member.load_weights(path)
        return True

    def save(self, member, index):
        path = self.weights_path(index)
        partial = path.with_name("partial." + path.name)
        member.save_weights(partial)
        partial.replace(path)

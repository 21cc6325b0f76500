"""`capture_video=True`: the run's finished clips, announced and logged to tensorboard once per epoch.

The task's `VideoRecorder` renders and writes the mp4 files in its own thread;
this observer, on the training thread, prints each new file and adds it to the
run's tensorboard as an animated GIF under `videos/<prefix>` (which wandb,
mirroring tensorboard, logs as a video), stepped by env frames like the scalars.
"""

from __future__ import annotations

from rl_games.common.algo_observer import AlgoObserver

from isaac_rl.sim.video import Clip, VideoRecorder


class VideoLogger(AlgoObserver):
    def __init__(self) -> None:
        super().__init__()
        self.recorder: VideoRecorder | None = None
        self.num_envs = 1
        self.writer = None

    def attach(self, recorder: VideoRecorder, num_envs: int) -> None:
        self.recorder, self.num_envs = recorder, num_envs

    def start(self) -> None:
        pass

    def after_init(self, algo) -> None:
        self.writer = algo.writer

    def after_print_stats(self, frame: int, epoch_num: int, total_time: float) -> None:
        self._log()

    def finish(self) -> None:
        """End of the run: write the clip being recorded (cut short) and log what is left."""
        if self.recorder is not None:
            self.recorder.close()
            self._log()
            self.recorder = None

    def _log(self) -> None:
        if self.recorder is None:
            return
        for clip in self.recorder.finished_clips():
            print(f"video: {clip.path} ({clip.num_frames} frames)")
            if self.writer is not None:
                self._add_to_tensorboard(clip)

    def _add_to_tensorboard(self, clip: Clip) -> None:
        from tensorboardX.proto.summary_pb2 import Summary

        image = Summary.Image(height=clip.height, width=clip.width, colorspace=3, encoded_image_string=clip.gif)
        summary = Summary(value=[Summary.Value(tag=f"videos/{self.recorder.name_prefix}", image=image)])
        self.writer._get_file_writer().add_summary(summary, clip.start_step * self.num_envs)
        self.writer.flush()

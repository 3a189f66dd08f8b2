"""Scripted behaviour policies that generate DSRL-style data in the real simulators.

DSRL's datasets come from many agents spanning the reward-cost trade-off, from safe
and slow to fast and unsafe. Here each episode draws one `BehaviourKnobs` setting
and a scripted controller follows it:

- Run tasks (Ball, Car): drive along +x at a target speed given as a multiple of the
  agent's velocity limit (cost is paid for every step above that limit, or outside
  the lane |y| > 2). Ratios above 1 are fast and unsafe.
- Circle tasks (Ball, Car): drive clockwise on a circle of a chosen radius at a chosen
  speed. Reward grows with speed and peaks on the task's circle (radius 7), but the
  safe band is |x| <= 6 and there is no speed limit, so safe settings drive small
  circles at any speed (slow to fast: safe episodes that earn little to much), and
  unsafe ones wide circles.
- AntVelocity: a crude open-loop gait (sinusoids per joint, parameters found by a
  short hill-climb on distance walked), its amplitude and frequency scaled by the
  speed knob. It walks forward at up to roughly 1 m/s; at high speed settings the
  gait becomes irregular and sometimes crosses the velocity limit.

The controllers read the simulator's true agent state (position, velocity, yaw):
privileged information that the recorded observations do not need to contain.
Gaussian action noise on top gives the data its spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAR_SPEED_PER_THROTTLE = 3.4  # measured: steady speed (m/s) per unit throttle, straight
CAR_STEERING_SIGN = -1.0  # measured: positive steering turns the car clockwise
ANT_CONTROL_DT = 0.05
# Share of episodes run with unsafe settings. Kept low so that an agent that mostly
# imitates the clean data stays under the cost limit (BCQ-L's actor only perturbs
# actions drawn from its behaviour model), and injected poison visibly shifts it.
UNSAFE_FRACTION = 0.1
# Safe settings' ranges. The car tracks speed and path less tightly than the ball (it
# overshoots), so its safe settings keep further from the limits: with the ball's
# ranges, 10% of CarRun's and 17% of CarCircle's safe-setting episodes went over the
# cost limit (40 and 60 episodes tried), with these none did.
SAFE_SPEED_RATIO = {"ball": (0.3, 0.8), "car": (0.3, 0.65)}
# Circle tasks: a safe circle may be driven fast. The first revision drove them at the
# run tasks' safe speeds, so its safe episodes earned at most 55 (CarCircle) and 113
# (BallCircle) against 130-570 for unsafe ones: an agent had nothing safe that moves to
# learn. Measured (3 episodes each, noise 0.1): the car is safe up to radius 4.5 at
# 1.8 x its speed scale (reward 152, cost 0), the ball up to radius 5.0-5.5 at 1.4
# (139-184, cost 0-1.7); wider or faster overshoots past |x| = 6.
SAFE_CIRCLE_SPEED_RATIO = (0.3, 1.6)
SAFE_RADIUS = {"ball": (3.0, 5.3), "car": (3.0, 4.8)}
UNSAFE_SPEED_RATIO = (1.0, 1.7)
UNSAFE_RADIUS = (6.2, 8.5)
# Bumped for a task family whenever its behaviour changes, and written into every
# generated file, so that data (and agents) of an older behaviour are never mixed in.
BEHAVIOUR_REVISION = {"run": 1, "circle": 2, "ant": 1}


def behaviour_revision(task: str) -> int:
    """The behaviour revision this code generates `task`'s data with."""
    if "Ant" in task:
        return BEHAVIOUR_REVISION["ant"]
    return BEHAVIOUR_REVISION["run" if "Run" in task else "circle"]


@dataclass
class BehaviourKnobs:
    """One episode's behaviour: how fast, how far out, how noisy."""

    speed_ratio: float  # target speed / the agent's velocity limit (run) or scale (ant)
    radius: float  # circle tasks: radius of the driven circle
    noise: float  # std of Gaussian noise added to every action

    @staticmethod
    def sample(rng: np.random.Generator, unsafe_fraction: float = UNSAFE_FRACTION,
               agent: str = "ball", circle: bool = False) -> "BehaviourKnobs":
        """Draw a setting: mostly safe, sometimes fast (run) or wide (circle) and unsafe."""
        unsafe = rng.random() < unsafe_fraction
        safe_speed = SAFE_CIRCLE_SPEED_RATIO if circle else SAFE_SPEED_RATIO[agent]
        return BehaviourKnobs(
            speed_ratio=float(rng.uniform(*(UNSAFE_SPEED_RATIO if unsafe else safe_speed))),
            radius=float(rng.uniform(*(UNSAFE_RADIUS if unsafe else SAFE_RADIUS[agent]))),
            noise=float(rng.uniform(0.0, 0.3)),
        )


class ScriptedController:
    """Velocity-tracking controller for the Bullet Ball and RaceCar agents."""

    def __init__(self, env, task: str, knobs: BehaviourKnobs, rng: np.random.Generator):
        self.agent = env.unwrapped.agent
        self.is_car = "Car" in task
        self.is_run = "Run" in task
        self.knobs = knobs
        self.rng = rng
        self.speed_jitter = 0.0

    def desired_velocity(self, position: np.ndarray) -> np.ndarray:
        """World-frame planar velocity the agent should have at `position`."""
        # Slowly varying speed (an AR(1) process) so episodes near the limit cross it
        # for some steps and not others, as mixed behaviour does.
        self.speed_jitter = 0.95 * self.speed_jitter + 0.1 * self.rng.normal(0.0, 1.0)
        limit = self.agent.velocity_constraint
        speed = max(0.0, limit * self.knobs.speed_ratio * (1.0 + self.speed_jitter))
        if self.is_run:
            return np.array([speed, -0.8 * position[1]])
        distance = np.linalg.norm(position) + 1e-6
        clockwise = np.array([position[1], -position[0]]) / distance
        towards_radius = -position / distance * 0.8 * (distance - self.knobs.radius)
        return clockwise * max(speed, 0.5 * limit) + towards_radius

    def __call__(self) -> np.ndarray:
        position = self.agent.get_position()[:2]
        velocity = self.agent.get_linear_velocity()[:2]
        desired = self.desired_velocity(position)
        if self.is_car:
            # The car's body x-axis points backwards: it drives forwards on negative
            # throttle, facing yaw + pi.
            heading = self.agent.get_orientation()[2] + np.pi
            heading_error = np.arctan2(desired[1], desired[0]) - heading
            heading_error = (heading_error + np.pi) % (2 * np.pi) - np.pi
            forward_speed = velocity @ np.array([np.cos(heading), np.sin(heading)])
            target_speed = np.linalg.norm(desired)
            throttle = target_speed / CAR_SPEED_PER_THROTTLE + 0.2 * (target_speed - forward_speed)
            action = np.array([-throttle, CAR_STEERING_SIGN * 2.0 * heading_error])
        else:
            action = desired - velocity
        action = action + self.rng.normal(0.0, self.knobs.noise, size=action.shape)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


# Open-loop Ant gait: action_j(t) = amplitude_j * sin(2 pi f t + phase_j) + offset_j.
# Found once, offline, by a random search (60 gaits) then a 400-candidate hill-climb
# on distance walked in 300 steps; the constants are that search's result.
ANT_GAIT_AMPLITUDE = np.array([0.867, 0.359, 0.844, 0.505, 0.733, 0.533, 0.565, 0.303])
ANT_GAIT_FREQUENCY = 5.09
ANT_GAIT_PHASE = np.array([1.782, 1.986, 0.951, 4.791, 5.376, 2.339, 4.603, 0.279])
ANT_GAIT_OFFSET = np.array([-0.428, 0.369, -0.224, -0.219, 0.044, 0.221, 0.19, 0.328])


class AntGait:
    """Crude open-loop walking gait for the Ant, sped up or slowed down by the knob."""

    def __init__(self, env, task: str, knobs: BehaviourKnobs, rng: np.random.Generator):
        self.knobs = knobs
        self.rng = rng
        self.step_index = 0
        self.phase_shift = rng.uniform(0, 2 * np.pi)

    def __call__(self) -> np.ndarray:
        time = self.step_index * ANT_CONTROL_DT
        self.step_index += 1
        scale = self.knobs.speed_ratio
        frequency = ANT_GAIT_FREQUENCY * (0.5 + 0.5 * scale)
        angle = 2 * np.pi * frequency * time + ANT_GAIT_PHASE + self.phase_shift
        action = np.minimum(1.0, scale) * ANT_GAIT_AMPLITUDE * np.sin(angle) + ANT_GAIT_OFFSET
        action = action + self.rng.normal(0.0, self.knobs.noise, size=action.shape)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def make_behaviour(env, task: str, knobs: BehaviourKnobs, rng: np.random.Generator):
    """The scripted policy for `task`: a callable returning the next action."""
    if "Ant" in task:
        return AntGait(env, task, knobs, rng)
    return ScriptedController(env, task, knobs, rng)

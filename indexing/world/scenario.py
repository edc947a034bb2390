"""Public entry to scripted footage: the scenario values, the demo, held-out footage and queries."""

from indexing.world.demo import INCIDENT_CAMERA, SECOND_CAMERA, THIEF_ID, demo_scenario
from indexing.world.heldout_footage import heldout_scenarios
from indexing.world.queries import Match, Query, QueryKind, heldout_queries
from indexing.world.script import Camera, Crossing, Scenario

__all__ = ["INCIDENT_CAMERA", "SECOND_CAMERA", "THIEF_ID", "Camera", "Crossing", "Match", "Query",
           "QueryKind", "Scenario", "demo_scenario", "heldout_queries", "heldout_scenarios"]

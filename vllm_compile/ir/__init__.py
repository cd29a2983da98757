"""Typed, frozen intermediate representations passed between the compiler stages.

parse -> `spec.Spec`; resolve -> `facts.ModelFacts` + `facts.GpuFacts`; plan -> `plan.Plan`;
lower -> `lowered.Deployment`; emit -> `artifact.Artifact`. Stages import these types, never
each other.
"""

"""The Workspace's private wiring (workspace.py is the public face): each module joins one concern's
parts for it, so that workspace.py reads as the API and its lazy parts.

- agent.py: an agent ask's loop, its searches under the caller's permissions and its fallback
- ask.py: an ask's steps (question checked, follow-up made standalone, retrieval, answer, trace)
- calibration.py: the per-reader refusal calibrations, in memory and in the store
- evaluation.py: retrieval and answer evaluation over a BEIR folder's own index
- parts.py: the store as the workspace opens it (trace retention, redaction, export), its
  embedder check, the answer model in a caller's context, and the
  abstention when a reader may read nothing
"""

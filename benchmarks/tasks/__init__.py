"""The benchmark's own tasks (data written for this project), next to the sentiment example."""

"""The prefix-affinity request router, on Ray Serve's public router base classes.

For each request (its model id from multiplexing, its prompt's hash chain from `keys`):

1. the candidates are the replicas holding the model; when none does, the replicas holding the
   fewest models (so two models land on two replicas);
2. among those holding the model, the replica that served the longest matching prefix of the
   chain gets it, where the KV cache already holds that prefix, unless its queue is longer than
   the shortest by more than `imbalance` requests;
3. otherwise (no match, or too busy) power of two choices among the holders by queue length,
   or among all replicas when every holder's queue is longer than the shortest by more than
   `imbalance` (a hot model spreads to more replicas).

The table of which replica served which prefix hash is this router's own (one per ingress
replica), bounded (`max_prefixes`, least recently used out); it is learned from the requests
routed, never asked of the replicas: no call per request besides the request itself.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

from ray.serve.request_router import (
    MultiplexMixin,
    PendingRequest,
    ReplicaID,
    RequestRouter,
    RunningReplica,
)

DEFAULT_IMBALANCE = 4
DEFAULT_MAX_PREFIXES = 200_000


class PrefixAffinityRouter(MultiplexMixin, RequestRouter):
    def initialize_state(self, **kwargs: Any) -> None:
        self.imbalance: int = int(kwargs.get("imbalance", DEFAULT_IMBALANCE))
        self.max_prefixes: int = int(kwargs.get("max_prefixes", DEFAULT_MAX_PREFIXES))
        self._owner: OrderedDict[int, ReplicaID] = OrderedDict()
        self._ongoing: dict[ReplicaID, int] = {}
        self._request_replica: dict[str, ReplicaID] = {}

    def _queue_len(self, replica: RunningReplica) -> int:
        cached = self.replica_queue_len_cache.get(replica.replica_id)
        return max(cached or 0, self._ongoing.get(replica.replica_id, 0))

    def _two_choices(self, pool: list[RunningReplica]) -> list[RunningReplica]:
        """Two random replicas, the one with the shorter queue first."""
        pair = random.sample(pool, 2) if len(pool) > 2 else random.sample(pool, len(pool))
        return sorted(pair, key=self._queue_len)

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        if not candidate_replicas:
            return []
        if pending_request is None:
            return [self._two_choices(candidate_replicas)]
        pending_request.routing_context.should_backoff = True  # every rank full: back off
        model = pending_request.metadata.multiplexed_model_id
        holders = [r for r in candidate_replicas if model and model in r.multiplexed_model_ids]
        others = [r for r in candidate_replicas if r not in holders]
        if not holders:
            fewest = min(len(r.multiplexed_model_ids) for r in candidate_replicas)
            pool = [r for r in candidate_replicas if len(r.multiplexed_model_ids) == fewest]
            return [self._two_choices(pool), candidate_replicas]
        ranks: list[list[RunningReplica]] = []
        best = self._longest_prefix_holder(holders, pending_request.kwargs.get("prefix") or [])
        shortest = min(self._queue_len(r) for r in candidate_replicas)
        if best is not None and self._queue_len(best) <= shortest + self.imbalance:
            ranks.append([best])
        if min(self._queue_len(r) for r in holders) <= shortest + self.imbalance:
            ranks.append(self._two_choices(holders))
        else:  # every holder is far busier than some other replica: spread the model
            ranks.append(self._two_choices(candidate_replicas))
        if others:
            ranks.append(others)
        return ranks

    def _longest_prefix_holder(
        self, holders: list[RunningReplica], chain: list[int]
    ) -> RunningReplica | None:
        by_id = {r.replica_id: r for r in holders}
        for h in reversed(chain):
            owner = self._owner.get(h)
            if owner is not None and owner in by_id:
                return by_id[owner]
        return None

    def on_request_routed(
        self, pending_request: PendingRequest, replica_id: ReplicaID, result: Any
    ) -> None:
        for h in pending_request.kwargs.get("prefix") or []:
            self._owner[h] = replica_id
            self._owner.move_to_end(h)
        while len(self._owner) > self.max_prefixes:
            self._owner.popitem(last=False)
        self._ongoing[replica_id] = self._ongoing.get(replica_id, 0) + 1
        self._request_replica[pending_request.metadata.internal_request_id] = replica_id

    def on_request_completed(self, replica_id: ReplicaID, internal_request_id: str) -> None:
        if self._request_replica.pop(internal_request_id, None) is not None:
            self._ongoing[replica_id] = max(0, self._ongoing.get(replica_id, 0) - 1)

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        super().on_replica_actor_died(replica_id)
        self._ongoing.pop(replica_id, None)
        for h in [h for h, owner in self._owner.items() if owner == replica_id]:
            del self._owner[h]

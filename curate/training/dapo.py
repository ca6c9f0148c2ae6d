"""DAPO's dynamic sampling on TRL's GRPOTrainer (P1's RL recipe: verl DAPO,
`filter_groups.enable=True` on metric `acc`).

A group whose completions all get the same correctness reward (all right or all wrong) has
zero advantage: it teaches nothing but still counts in the token-mean normaliser and dilutes
the others. Dynamic sampling drops such groups. TRL has no option for it, so
`DynamicSamplingGRPOTrainer` masks them out of the loss (completion mask zero, normaliser
recounted) after TRL scores a generation batch. Unlike verl it does not generate more
batches to refill (`max_num_gen_batches`): the step trains on the groups that remain, and the
share dropped is logged as `dynamic_sampling/dropped_groups`.

The other DAPO pieces are TRL's own options: clip-higher (`epsilon`, `epsilon_high`),
token-mean loss (`loss_type="dapo"`), truncated completions masked
(`mask_truncated_completions`), and the soft overlong punishment
(`trl.rewards.get_soft_overlong_punishment`, DAPO Eq. 13).
"""

from __future__ import annotations

from collections.abc import Sequence


def group_keep_mask(rewards, num_generations: int, columns: Sequence[int] | None = None,
                    weights=None):
    """Bool tensor [N]: False for the completions of groups whose reward is constant.

    `rewards` is [N, F] (one column per reward function, N = groups x num_generations, a
    group's completions consecutive, as TRL orders them); the filtered reward is the weighted
    sum of `columns` (default: all), NaN counted as 0, as TRL sums rewards.
    """
    import torch

    r = rewards if columns is None else rewards[:, list(columns)]
    w = torch.ones(r.shape[1], device=r.device) if weights is None else torch.as_tensor(
        weights, dtype=r.dtype, device=r.device)[: r.shape[1]]
    total = torch.nan_to_num(r, nan=0.0) @ w
    grouped = total.view(-1, num_generations)
    spread = grouped.max(dim=1).values - grouped.min(dim=1).values
    keep = ~torch.isclose(spread, torch.zeros_like(spread))
    return keep.repeat_interleave(num_generations)


def dynamic_sampling_trainer(filter_columns: Sequence[int] | None = None):
    """A GRPOTrainer subclass that drops constant-reward groups from the loss, filtering on
    the reward functions at `filter_columns` (the correctness rewards; default all)."""
    from trl import GRPOTrainer

    class DynamicSamplingGRPOTrainer(GRPOTrainer):
        _filter_columns = list(filter_columns) if filter_columns is not None else None

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._last_rewards = rewards  # gathered over every process
            return rewards

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            mode = "train" if self.model.training else "eval"
            if mode != "train":
                return out
            cols = self._filter_columns
            weights = None if cols else self.reward_weights
            keep_all = group_keep_mask(self._last_rewards, self.num_generations, cols, weights)
            local = out["completion_mask"].shape[0]
            start = self.accelerator.process_index * local
            keep = keep_all[start:start + local].to(out["completion_mask"].device)
            out["completion_mask"] = out["completion_mask"] * keep.unsqueeze(1).int()
            out["num_items_in_batch"] = self.accelerator.gather(out["completion_mask"].sum()).sum()
            groups = keep_all.view(-1, self.num_generations)[:, 0]
            self._metrics[mode]["dynamic_sampling/dropped_groups"].append(
                1.0 - groups.float().mean().item())
            return out

    return DynamicSamplingGRPOTrainer

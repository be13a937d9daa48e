//! The order images are started in, under an overall limit and a limit per registry.
//!
//! The first image of every registry starts first, then the second of each, and so on: the first
//! runs the registry's shared stages (DNS, TCP, TLS, `/v2/`), which the others reuse, so a deploy
//! over many registries (or many that are down) waits for their probes side by side rather than
//! one registry at a time. An image whose registry is at its limit holds no place in the overall
//! limit: images of other registries go ahead. The order is deterministic: with the same inputs
//! and completions, the same images start in the same order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

/// Where an item stands in the overall start order: its place in its registry's list, then its
/// place in the order given.
type Place = (usize, usize);

/// Hands out work items as the limits allow.
#[derive(Debug)]
pub(crate) struct Scheduler<T> {
    /// Per registry, its items in start order.
    queues: Vec<VecDeque<(Place, T)>>,
    running: Vec<usize>,
    /// Registries below their limit with items waiting, by the place of their next item.
    ready: BTreeMap<Place, usize>,
    overall: usize,
    per_registry: usize,
    in_flight: usize,
}

impl<T> Scheduler<T> {
    /// `items` as (registry key, item), in the order given; both limits at least 1.
    pub(crate) fn new<K: Hash + Eq>(
        items: impl IntoIterator<Item = (K, T)>,
        overall: usize,
        per_registry: usize,
    ) -> Scheduler<T> {
        let mut registries: HashMap<K, usize> = HashMap::new();
        let mut queues: Vec<VecDeque<(Place, T)>> = Vec::new();
        for (i, (key, item)) in items.into_iter().enumerate() {
            let next = queues.len();
            let r = *registries.entry(key).or_insert(next);
            if r == next {
                queues.push(VecDeque::new());
            }
            let nth = queues[r].len();
            queues[r].push_back(((nth, i), item));
        }
        let ready = queues
            .iter()
            .enumerate()
            .filter_map(|(r, q)| q.front().map(|(place, _)| (*place, r)))
            .collect();
        Scheduler {
            running: vec![0; queues.len()],
            queues,
            ready,
            overall: overall.max(1),
            per_registry: per_registry.max(1),
            in_flight: 0,
        }
    }

    /// The next item that may start now, with its registry's index for [`Scheduler::finished`].
    pub(crate) fn next(&mut self) -> Option<(usize, T)> {
        if self.in_flight >= self.overall {
            return None;
        }
        let (_, r) = self.ready.pop_first()?;
        let (_, item) = self.queues[r].pop_front()?;
        self.running[r] += 1;
        self.in_flight += 1;
        self.mark_if_ready(r);
        Some((r, item))
    }

    /// An item of registry `r` is done.
    pub(crate) fn finished(&mut self, r: usize) {
        self.running[r] -= 1;
        self.in_flight -= 1;
        self.mark_if_ready(r);
    }

    fn mark_if_ready(&mut self, r: usize) {
        if self.running[r] < self.per_registry
            && let Some((place, _)) = self.queues[r].front()
        {
            self.ready.insert(*place, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scheduler;

    fn items(list: &[(&str, u32)]) -> Vec<(String, u32)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn first_images_of_every_registry_start_first_in_the_order_given() {
        let mut s = Scheduler::new(
            items(&[("a", 1), ("a", 2), ("a", 3), ("b", 4), ("c", 5), ("b", 6)]),
            100,
            100,
        );
        let order: Vec<u32> = std::iter::from_fn(|| s.next().map(|(_, v)| v)).collect();
        assert_eq!(order, [1, 4, 5, 2, 6, 3]);
    }

    #[test]
    fn a_registry_at_its_limit_lets_others_go_ahead() {
        let mut s = Scheduler::new(
            items(&[("a", 1), ("a", 2), ("a", 3), ("a", 4), ("b", 5), ("b", 6)]),
            3,
            2,
        );
        let first: Vec<(usize, u32)> = std::iter::from_fn(|| s.next()).collect();
        // a1, b5, a2 (a now at its limit of 2), and the overall limit of 3 is reached.
        assert_eq!(first, [(0, 1), (1, 5), (0, 2)]);
        s.finished(0);
        // a has room again, but b6 comes first in the overall order.
        assert_eq!(s.next(), Some((1, 6)));
        assert_eq!(s.next(), None, "overall limit");
        s.finished(1);
        s.finished(1);
        assert_eq!(s.next(), Some((0, 3)));
        assert_eq!(s.next(), None, "a is at its limit again: a2 and a3 run");
        s.finished(0);
        assert_eq!(s.next(), Some((0, 4)));
        s.finished(0);
        s.finished(0);
        assert_eq!(s.next(), None, "all handed out");
    }

    #[test]
    fn limits_are_never_exceeded() {
        let list: Vec<(String, u32)> = (0..500u32).map(|i| (format!("r{}", i % 7), i)).collect();
        let mut s = Scheduler::new(list, 10, 3);
        let mut running: Vec<usize> = Vec::new();
        let mut started = 0;
        loop {
            while let Some((r, _)) = s.next() {
                running.push(r);
                started += 1;
                assert!(running.len() <= 10);
                assert!(running.iter().filter(|&&x| x == r).count() <= 3);
            }
            if running.is_empty() {
                break;
            }
            // Finish the oldest.
            let r = running.remove(0);
            s.finished(r);
        }
        assert_eq!(started, 500);
    }
}

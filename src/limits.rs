//! The per-address cap (`--max-per-ip`): no one client address takes the whole room.
//!
//! Members and handshakes in progress are counted per client address, across every transport.
//! IPv6 clients are grouped by /64: one home or one server usually gets a whole /64, so
//! counting single IPv6 addresses would let one machine take 2^64 of them. The default is high
//! enough that a NAT'd office (many people, one address) does not reach it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a client over the cap is told (TCP line, UDP datagram, HTTP 503 body).
pub const TOO_MANY_FROM_YOU: &str = "too many connections from your address";

/// Places taken per client address, against `max` (0: no cap).
pub struct PerAddress {
    taken: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

/// One place under a client address's cap; dropping it frees the place.
pub struct AddressSlot {
    all: Arc<PerAddress>,
    /// `None` when there is no cap: nothing was counted.
    group: Option<IpAddr>,
}

/// The address a client is counted under: IPv4 as it is (also when it arrives as
/// `::ffff:a.b.c.d`), IPv6 cut to its /64 network.
pub fn group(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

impl PerAddress {
    pub fn new(max: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            taken: Mutex::new(HashMap::new()),
            max,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // A panic cannot leave a count half-written, so a poisoned map is still good.
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for `ip`, unless its group has `max` already.
    pub fn try_take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        if self.max == 0 {
            return Some(AddressSlot {
                all: self.clone(),
                group: None,
            });
        }
        let group = group(ip);
        let mut taken = self.lock();
        let count = taken.entry(group).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            all: self.clone(),
            group: Some(group),
        })
    }

    /// Places taken by `ip`'s group now.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.lock().get(&group(ip)).copied().unwrap_or(0)
    }

    /// Addresses with at least one place: the map never outgrows the connections.
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(group) = self.group else { return };
        let mut taken = self.all.lock();
        if let Some(count) = taken.get_mut(&group) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_gets_max_places_and_each_drop_frees_one() {
        let cap = PerAddress::new(2);
        let a = cap.try_take(ip("192.0.2.1")).unwrap();
        let b = cap.try_take(ip("192.0.2.1")).unwrap();
        assert!(cap.try_take(ip("192.0.2.1")).is_none());
        // Another address is not affected.
        let other = cap.try_take(ip("192.0.2.2")).unwrap();
        assert_eq!(cap.count(ip("192.0.2.1")), 2);
        drop(a);
        let c = cap.try_take(ip("192.0.2.1")).unwrap();
        drop((b, c, other));
        assert_eq!(cap.count(ip("192.0.2.1")), 0);
        assert_eq!(cap.addresses(), 0, "no entry left behind");
    }

    #[test]
    fn ipv6_is_grouped_by_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(group(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(group(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(group(ip("192.0.2.1")), ip("192.0.2.1"));
        let cap = PerAddress::new(1);
        let _one = cap.try_take(ip("2001:db8:1:2::1")).unwrap();
        assert!(
            cap.try_take(ip("2001:db8:1:2:ffff::9")).is_none(),
            "same /64"
        );
        assert!(cap.try_take(ip("2001:db8:1:3::1")).is_some(), "next /64");
        let _v4 = cap.try_take(ip("192.0.2.1")).unwrap();
        assert!(cap.try_take(ip("::ffff:192.0.2.1")).is_none());
    }

    #[test]
    fn zero_means_no_cap() {
        let cap = PerAddress::new(0);
        let places: Vec<_> = (0..1000)
            .map(|_| cap.try_take(ip("192.0.2.1")).unwrap())
            .collect();
        assert_eq!(places.len(), 1000);
        assert_eq!(cap.addresses(), 0);
    }
}

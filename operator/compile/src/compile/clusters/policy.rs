//! Which DestinationRule setting is in force for one cluster: the rule's `trafficPolicy`, then
//! the subset's, each overridden by its `portLevelSettings` entry for the port (Istio's merge,
//! one setting at a time).

use crate::istio::{DestinationRule, PortTrafficPolicy, Subset, TrafficPolicy};

/// The setting `pick` (or `pick_port` in a port-level entry) finds, with the field path it is
/// written at: `<policy>.<name>` or `<policy>.portLevelSettings[j].<name>`. Later policies win.
pub(super) fn in_force<'a, T>(
    dr: &'a DestinationRule,
    subset: Option<&'a Subset>,
    port: u16,
    name: &str,
    pick: impl Fn(&'a TrafficPolicy) -> Option<&'a T>,
    pick_port: impl Fn(&'a PortTrafficPolicy) -> Option<&'a T>,
) -> Option<(&'a T, String)> {
    let policies = [
        dr.spec
            .traffic_policy
            .as_ref()
            .map(|p| (p, "spec.trafficPolicy".to_string())),
        subset.and_then(|s| {
            let i = dr.spec.subsets.iter().position(|x| x.name == s.name)?;
            s.traffic_policy
                .as_ref()
                .map(|p| (p, format!("spec.subsets[{i}].trafficPolicy")))
        }),
    ];
    let mut found = None;
    for (p, path) in policies.into_iter().flatten() {
        if let Some(t) = pick(p) {
            found = Some((t, format!("{path}.{name}")));
        }
        if let Some((j, t)) = p.port_level_settings.iter().enumerate().find_map(|(j, s)| {
            let matches = s.port.as_ref().is_some_and(|p| p.number == u32::from(port));
            pick_port(s).filter(|_| matches).map(|t| (j, t))
        }) {
            found = Some((t, format!("{path}.portLevelSettings[{j}].{name}")));
        }
    }
    found
}

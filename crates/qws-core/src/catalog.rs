//! The providers and targets a qws server offers (served as ARM `offerings` and reused by the
//! data plane's provider status). Every entry uses `N/A` Marketplace ids, so clients never ask for
//! Marketplace terms.

/// What a target does with a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Runs the program on the ideal statevector simulator (a QPU stands in this way too).
    Ideal,
    /// Checks the program as the provider's syntax checker does and reports all zeros.
    SyntaxChecker,
    /// Runs the program with the named machine's published noise model
    /// (`qws_sim::noise::NoiseModel::for_machine`).
    Emulator(&'static str),
}

/// A target of a provider.
#[derive(Debug, Clone, Copy)]
pub struct TargetInfo {
    /// Target id, e.g. `ionq.simulator`.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Qubits of the real target, reported as `numQubits` and accepted by its checks.
    pub num_qubits: u32,
    /// Qubits qws's statevector simulates for this target (at most `num_qubits`): a wider
    /// program is refused with a clear limit error rather than allocating terabytes. Syntax
    /// checkers simulate nothing (0); they accept programs up to `num_qubits`.
    pub sim_qubits: u32,
    /// Accepted input formats.
    pub input_formats: &'static [&'static str],
    /// QIR profile the target runs (`Base`, `Adaptive_RI`), reported as `targetProfile`.
    pub target_profile: &'static str,
    /// How the target treats a program.
    pub kind: TargetKind,
}

/// A provider with its SKU and targets.
#[derive(Debug, Clone, Copy)]
pub struct ProviderInfo {
    /// Provider id, e.g. `ionq`.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Company.
    pub company: &'static str,
    /// Description.
    pub description: &'static str,
    /// The one SKU qws offers for this provider.
    pub sku: &'static str,
    /// Targets.
    pub targets: &'static [TargetInfo],
}

/// IonQ targets on Azure today (Azure Quantum's IonQ provider page; IonQ's own pages for qubit
/// counts). QPUs are simulated; their statevector is capped at what memory allows.
const IONQ: &[TargetInfo] = &[
    TargetInfo {
        id: "ionq.simulator",
        name: "IonQ Simulator",
        description: "Statevector simulation of IonQ circuits; honours IonQ's `noise` parameter.",
        num_qubits: 29,
        sim_qubits: 29,
        input_formats: &["ionq.circuit.v1", "qir.v1"],
        target_profile: "Base",
        kind: TargetKind::Ideal,
    },
    TargetInfo {
        id: "ionq.qpu.aria-1",
        name: "IonQ Aria 1 (simulated)",
        description: "Served by the qws simulator with Aria 1's qubit count.",
        num_qubits: 25,
        sim_qubits: 25,
        input_formats: &["ionq.circuit.v1", "qir.v1"],
        target_profile: "Base",
        kind: TargetKind::Ideal,
    },
    TargetInfo {
        id: "ionq.qpu.forte-1",
        name: "IonQ Forte 1 (simulated)",
        description: "Served by the qws simulator; 36 qubits advertised, 28 simulated.",
        num_qubits: 36,
        sim_qubits: 28,
        input_formats: &["ionq.circuit.v1", "qir.v1"],
        target_profile: "Base",
        kind: TargetKind::Ideal,
    },
    TargetInfo {
        id: "ionq.qpu.forte-enterprise-1",
        name: "IonQ Forte Enterprise 1 (simulated)",
        description: "Served by the qws simulator; 36 qubits advertised, 28 simulated.",
        num_qubits: 36,
        sim_qubits: 28,
        input_formats: &["ionq.circuit.v1", "qir.v1"],
        target_profile: "Base",
        kind: TargetKind::Ideal,
    },
];

/// Quantinuum targets on Azure today (Azure Quantum's Quantinuum provider page): System Model H2
/// with 56 qubits; the emulators' statevector mode takes 32 (qws simulates up to 28).
const QUANTINUUM: &[TargetInfo] = &[
    TargetInfo {
        id: "quantinuum.sim.h2-1sc",
        name: "H2-1 Syntax Checker",
        description: "Validates programs as the H2-1 syntax checker does; results are all zeros.",
        num_qubits: 56,
        sim_qubits: 0,
        input_formats: &["honeywell.openqasm.v1", "qir.v1"],
        target_profile: "Adaptive_RI",
        kind: TargetKind::SyntaxChecker,
    },
    TargetInfo {
        id: "quantinuum.sim.h2-2sc",
        name: "H2-2 Syntax Checker",
        description: "Validates programs as the H2-2 syntax checker does; results are all zeros.",
        num_qubits: 56,
        sim_qubits: 0,
        input_formats: &["honeywell.openqasm.v1", "qir.v1"],
        target_profile: "Adaptive_RI",
        kind: TargetKind::SyntaxChecker,
    },
    TargetInfo {
        id: "quantinuum.sim.h2-1e",
        name: "H2-1 Emulator",
        description: "Statevector emulation with H2-1's published error rates.",
        num_qubits: 56,
        sim_qubits: 28,
        input_formats: &["honeywell.openqasm.v1", "qir.v1"],
        target_profile: "Adaptive_RI",
        kind: TargetKind::Emulator("H2-1"),
    },
    TargetInfo {
        id: "quantinuum.sim.h2-2e",
        name: "H2-2 Emulator",
        description: "Statevector emulation with H2-2's published error rates.",
        num_qubits: 56,
        sim_qubits: 28,
        input_formats: &["honeywell.openqasm.v1", "qir.v1"],
        target_profile: "Adaptive_RI",
        kind: TargetKind::Emulator("H2-2"),
    },
    TargetInfo {
        id: "quantinuum.qpu.h2-1",
        name: "H2-1 (simulated)",
        description: "Served by the qws simulator with H2-1's published error rates.",
        num_qubits: 56,
        sim_qubits: 28,
        input_formats: &["honeywell.openqasm.v1", "qir.v1"],
        target_profile: "Adaptive_RI",
        kind: TargetKind::Emulator("H2-1"),
    },
    TargetInfo {
        id: "quantinuum.qpu.h2-2",
        name: "H2-2 (simulated)",
        description: "Served by the qws simulator with H2-2's published error rates.",
        num_qubits: 56,
        sim_qubits: 28,
        input_formats: &["honeywell.openqasm.v1", "qir.v1"],
        target_profile: "Adaptive_RI",
        kind: TargetKind::Emulator("H2-2"),
    },
];

/// Rigetti targets on Azure today (Azure Quantum's Rigetti provider page).
const RIGETTI: &[TargetInfo] = &[
    TargetInfo {
        id: "rigetti.sim.qvm",
        name: "QVM",
        description: "Ideal statevector simulation standing in for the Rigetti QVM.",
        num_qubits: 26,
        sim_qubits: 26,
        input_formats: &["rigetti.quil.v1", "qir.v1"],
        target_profile: "Base",
        kind: TargetKind::Ideal,
    },
    TargetInfo {
        id: "rigetti.qpu.cepheus-1-108q",
        name: "Cepheus-1-108Q (simulated)",
        description: "Served by the qws simulator; 108 qubits advertised, 26 simulated.",
        num_qubits: 108,
        sim_qubits: 26,
        input_formats: &["rigetti.quil.v1", "qir.v1"],
        target_profile: "Base",
        kind: TargetKind::Ideal,
    },
];

/// Everything qws offers. All targets are served by qws's own simulators. Retired Azure
/// targets (H1, Aria 2, Ankaa, Aspen, Harmony) are absent, as on Azure.
pub const PROVIDERS: &[ProviderInfo] = &[
    ProviderInfo {
        id: "ionq",
        name: "IonQ (qws simulator)",
        company: "qws",
        description: "IonQ-compatible targets simulated locally by qws.",
        sku: "pay-as-you-go-cred",
        targets: IONQ,
    },
    ProviderInfo {
        id: "quantinuum",
        name: "Quantinuum (qws simulator)",
        company: "qws",
        description: "Quantinuum-compatible targets simulated locally by qws.",
        sku: "credits1",
        targets: QUANTINUUM,
    },
    ProviderInfo {
        id: "rigetti",
        name: "Rigetti (qws simulator)",
        company: "qws",
        description: "Rigetti-compatible targets simulated locally by qws.",
        sku: "azure-quantum-credits",
        targets: RIGETTI,
    },
    ProviderInfo {
        id: "qws",
        name: "qws native simulator",
        company: "qws",
        description: "qws's own statevector simulator: OpenQASM 3, OpenQASM 2, IonQ JSON and QIR.",
        sku: "free",
        targets: &[TargetInfo {
            id: "qws.simulator",
            name: "qws statevector simulator",
            description: "Statevector simulation of OpenQASM, IonQ JSON and QIR programs, with an optional noise model.",
            num_qubits: 28,
            sim_qubits: 28,
            input_formats: &[
                "openqasm.v3",
                "honeywell.openqasm.v1",
                "ionq.circuit.v1",
                "qir.v1",
            ],
            target_profile: "Adaptive_RI",
            kind: TargetKind::Ideal,
        }],
    },
    ProviderInfo {
        id: "microsoft-qc",
        name: "Microsoft Quantum Computing (qws)",
        company: "qws",
        description: "Learn-and-develop SKU.",
        sku: "learn-and-develop",
        targets: &[],
    },
];

/// Looks a provider up by id (case-insensitive).
pub fn provider(id: &str) -> Option<&'static ProviderInfo> {
    PROVIDERS.iter().find(|p| p.id.eq_ignore_ascii_case(id))
}

/// Looks a target up by id (case-insensitive) and returns it with its provider.
pub fn target(id: &str) -> Option<(&'static ProviderInfo, &'static TargetInfo)> {
    PROVIDERS.iter().find_map(|p| {
        p.targets
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(id))
            .map(|t| (p, t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todays_azure_targets_are_offered_and_retired_ones_are_not() {
        for id in [
            "quantinuum.sim.h2-2sc",
            "quantinuum.qpu.h2-1",
            "quantinuum.qpu.h2-2",
            "ionq.qpu.forte-enterprise-1",
            "rigetti.qpu.cepheus-1-108q",
        ] {
            assert!(target(id).is_some(), "{id}");
        }
        for id in [
            "quantinuum.sim.h1-1e",
            "quantinuum.qpu.h1-1",
            "ionq.qpu",
            "ionq.qpu.aria-2",
            "rigetti.qpu.aspen-11",
            "rigetti.qpu.ankaa-3",
        ] {
            assert!(target(id).is_none(), "{id}");
        }
        assert_eq!(
            target("rigetti.qpu.cepheus-1-108q").unwrap().1.num_qubits,
            108
        );
        assert_eq!(target("quantinuum.qpu.h2-2").unwrap().1.num_qubits, 56);
        assert_eq!(
            target("ionq.qpu.forte-enterprise-1").unwrap().1.num_qubits,
            36
        );
    }

    #[test]
    fn simulated_width_never_exceeds_the_advertised_one() {
        for t in PROVIDERS.iter().flat_map(|p| p.targets) {
            assert!(t.sim_qubits <= t.num_qubits, "{}", t.id);
            assert!(!t.input_formats.is_empty(), "{}", t.id);
        }
    }
}

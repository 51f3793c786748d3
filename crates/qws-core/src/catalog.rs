//! The providers and targets a qws server offers (served as ARM `offerings` and reused by the
//! data plane's provider status). Every entry uses `N/A` Marketplace ids, so clients never ask for
//! Marketplace terms.

/// A target of a provider.
#[derive(Debug, Clone, Copy)]
pub struct TargetInfo {
    /// Target id, e.g. `ionq.simulator`.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Qubits the simulator accepts.
    pub num_qubits: u32,
    /// Accepted input formats.
    pub input_formats: &'static [&'static str],
    /// QIR profile the target runs (`Base`, `Adaptive_RI`), reported as `targetProfile`.
    pub target_profile: &'static str,
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

/// Everything qws offers. All targets are served by qws's own simulators.
pub const PROVIDERS: &[ProviderInfo] = &[
    ProviderInfo {
        id: "ionq",
        name: "IonQ (qws simulator)",
        company: "qws",
        description: "IonQ-compatible targets simulated locally by qws.",
        sku: "pay-as-you-go-cred",
        targets: &[
            TargetInfo {
                id: "ionq.simulator",
                name: "IonQ Simulator",
                description: "Ideal statevector simulation of IonQ circuits.",
                num_qubits: 29,
                input_formats: &["ionq.circuit.v1", "qir.v1"],
                target_profile: "Base",
            },
            TargetInfo {
                id: "ionq.qpu.aria-1",
                name: "IonQ Aria 1 (simulated)",
                description: "Served by the qws simulator with Aria-1's qubit count.",
                num_qubits: 25,
                input_formats: &["ionq.circuit.v1", "qir.v1"],
                target_profile: "Base",
            },
            TargetInfo {
                id: "ionq.qpu.forte-1",
                name: "IonQ Forte 1 (simulated)",
                description: "Served by the qws simulator (statevector-sized qubit count).",
                num_qubits: 28,
                input_formats: &["ionq.circuit.v1", "qir.v1"],
                target_profile: "Base",
            },
        ],
    },
    ProviderInfo {
        id: "quantinuum",
        name: "Quantinuum (qws simulator)",
        company: "qws",
        description: "Quantinuum-compatible targets simulated locally by qws.",
        sku: "credits1",
        targets: &[
            TargetInfo {
                id: "quantinuum.sim.h2-1e",
                name: "H2-1 Emulator",
                description: "Ideal statevector simulation standing in for the H2-1 emulator.",
                num_qubits: 28,
                input_formats: &["honeywell.openqasm.v1", "qir.v1"],
                target_profile: "Adaptive_RI",
            },
            TargetInfo {
                id: "quantinuum.sim.h2-1sc",
                name: "H2-1 Syntax Checker",
                description:
                    "Ideal statevector simulation standing in for the H2-1 syntax checker.",
                num_qubits: 28,
                input_formats: &["honeywell.openqasm.v1", "qir.v1"],
                target_profile: "Adaptive_RI",
            },
            TargetInfo {
                id: "quantinuum.sim.h2-2e",
                name: "H2-2 Emulator",
                description: "Ideal statevector simulation standing in for the H2-2 emulator.",
                num_qubits: 28,
                input_formats: &["honeywell.openqasm.v1", "qir.v1"],
                target_profile: "Adaptive_RI",
            },
        ],
    },
    ProviderInfo {
        id: "rigetti",
        name: "Rigetti (qws simulator)",
        company: "qws",
        description: "Rigetti-compatible targets simulated locally by qws.",
        sku: "azure-quantum-credits",
        targets: &[TargetInfo {
            id: "rigetti.sim.qvm",
            name: "QVM",
            description: "Ideal statevector simulation standing in for the Rigetti QVM.",
            num_qubits: 26,
            input_formats: &["qir.v1"],
            target_profile: "Base",
        }],
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
            description: "Ideal statevector simulation of OpenQASM, IonQ JSON and QIR programs.",
            num_qubits: 28,
            input_formats: &[
                "openqasm.v3",
                "honeywell.openqasm.v1",
                "ionq.circuit.v1",
                "qir.v1",
            ],
            target_profile: "Adaptive_RI",
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

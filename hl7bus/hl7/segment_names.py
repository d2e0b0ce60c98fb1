"""The segment names HL7 v2.1 to v2.8 define, and what a segment name looks like."""

from __future__ import annotations

import re

SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")

_STANDARD = """
    ABS ACC ADD ADJ AFF AIG AIL AIP AIS AL1 APR ARQ ARV AUT BHS BLC BLG BPO BPX BTS BTX
    BUI CDM CDO CER CM0 CM1 CM2 CNS CON CSP CSR CSS CTD CTI DB1 DG1 DMI DON DPS DRG DSC
    DSP ECD ECR EDU EQL EQP EQU ERQ ERR EVN FAC FHS FT1 FTS GOL GP1 GP2 GT1 IAM IAR IIM
    ILT IN1 IN2 IN3 INV IPC IPR ISD ITM IVC IVT LAN LCC LCH LDP LOC LRL MCP MFA MFE MFI
    MRG MSA MSH NCK NDS NK1 NPU NSC NST NTE OBR OBX ODS ODT OM1 OM2 OM3 OM4 OM5 OM6 OM7
    OMC ORC ORG ORO OVR PAC PCE PCR PD1 PDA PDC PEO PES PID PKG PM1 PMT PR1 PRA PRB PRC
    PRD PRT PSG PSH PSL PSS PTH PV1 PV2 PYE QAK QID QPD QRD QRF QRI RCP RDF RDT REL RF1
    RFI RGS RMI ROL RQ1 RQD RX1 RXA RXC RXD RXE RXG RXO RXR RXV SAC SCD SCH SCP SDD SFT
    SGH SGT SHP SID SLT SPM SPR STF STZ TCC TCD TQ1 TQ2 TXA UAC UB1 UB2 URD URS VAR VND
    VTQ
"""
STANDARD_SEGMENTS = frozenset(_STANDARD.split())

BATCH_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})

# Every well-formed name met so far (bounded), for a fast membership test.
KNOWN_NAMES: set[str] = set(STANDARD_SEGMENTS)
_SEEN_LIMIT = 5000


def is_segment_name(name: str) -> bool:
    """Whether ``name`` is a well-formed segment name: a capital, then two capitals or digits."""
    if name in KNOWN_NAMES:
        return True
    if len(name) == 3 and SEGMENT_NAME.fullmatch(name) is not None:
        if len(KNOWN_NAMES) < _SEEN_LIMIT:
            KNOWN_NAMES.add(name)
        return True
    return False


def looks_like_segment(name: str) -> bool:
    """Whether ``name`` is a standard segment name or a Z-segment."""
    return name in STANDARD_SEGMENTS or (name[:1] == "Z" and is_segment_name(name))

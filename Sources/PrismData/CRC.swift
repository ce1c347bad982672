// CRC-32C and TFRecord's masking (spec §1), over the CCRC32C C target (SSE4.2 instruction, table fallback).
import CCRC32C
import Foundation

public enum CRC32C {
    /// CRC-32C of `bytes`, continuing from `crc` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return crc32c_extend(crc, base, bytes.count)
    }

    public static func checksum<Bytes: ContiguousBytes>(_ bytes: Bytes, extending crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, extending: crc) }
    }

    /// The table path, whatever the CPU; tests compare it with the hardware path.
    public static func portableChecksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return crc32c_extend_portable(crc, base, bytes.count)
    }

    /// True when the SSE4.2 `crc32` instruction is in use.
    public static var usesHardware: Bool { crc32c_hardware_available() != 0 }

    /// TFRecord stores CRCs masked: rotate right by 15, add 0xA282EAD8 (spec §1).
    @inlinable public static func mask(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    @inlinable public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- 0xA282_EAD8
        return (rotated >> 17) | (rotated << 15)
    }

    /// The masked CRC TFRecord writes after a length or a payload.
    public static func maskedChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { mask(checksum(bytes)) }
}

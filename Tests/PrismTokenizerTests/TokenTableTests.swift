@testable import PrismTokenizer
import XCTest

/// Sources/PrismTokenizer/TokenTable.swift
final class TokenTableTests: XCTestCase {
    func testInsertLookupAndFrozenCopyAgree() {
        var rng = SplitMix(seed: 1)
        var table = TokenTable()
        var keys: [[UInt8]: Int] = [:]
        for id in 0..<5000 {
            let key = (0..<Int(rng.next() % 20)).map { _ in UInt8(rng.next() % 4) }   // many short, colliding keys
            let existing = table.insert(key, id: id)
            XCTAssertEqual(existing, keys[key])
            if keys[key] == nil { keys[key] = id }
        }
        XCTAssertEqual(table.count, keys.count)
        let frozen = FrozenTokenTable(table)
        for (key, id) in keys {
            XCTAssertEqual(table.lookup(key), id)
            XCTAssertEqual(frozen.lookup(key), id)
        }
        XCTAssertNil(frozen.lookup([9, 9]))
        for k in 0..<table.count { XCTAssertEqual(Array(frozen.key(k)), Array(table.key(k))) }
    }

    func testEmptyTables() {
        let frozen = FrozenTokenTable(TokenTable())
        XCTAssertEqual(frozen.count, 0)
        XCTAssertNil(frozen.lookup([1]))
        XCTAssertNil(frozen.lookup([]))
    }
}

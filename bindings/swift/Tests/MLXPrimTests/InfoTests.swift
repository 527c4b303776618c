import CMLXPrim
import Foundation
import MLXPrim
import XCTest

final class InfoTests: XCTestCase {
    override func tearDown() {
        XCTAssertNoThrow(try MLXPrim.setNumThreads(0))
    }

    func testVersionMatchesHeader() {
        XCTAssertFalse(MLXPrim.version.isEmpty)
        XCTAssertEqual(MLXPrim.version, MLXP_VERSION_STRING)
        XCTAssertEqual(MLXPrim.versionNumber, Int(MLXP_VERSION_NUMBER))
        XCTAssertEqual(MLXPrim.abiVersion, Int(MLXP_ABI_VERSION))
        // "MAJOR.MINOR.PATCH" and MAJOR * 1000000 + MINOR * 1000 + PATCH agree.
        let parts = MLXPrim.version.split(separator: ".").compactMap { Int($0) }
        XCTAssertEqual(parts.count, 3, MLXPrim.version)
        if parts.count == 3 {
            XCTAssertEqual(parts[0] * 1_000_000 + parts[1] * 1000 + parts[2], MLXPrim.versionNumber)
        }
    }

    func testCPUInfo() {
        // The names mlxp_cpu_features documents.
        let known: Set = ["sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                          "avx512vl", "avx512dq", "avx512bf16", "avx512vnni", "neon"]
        let features = MLXPrim.cpuFeatures
        XCTAssertTrue(Set(features).isSubset(of: known), "\(features)")
        XCTAssertEqual(Set(features).count, features.count, "no duplicates: \(features)")
        #if arch(arm64)
        XCTAssertTrue(features.contains("neon"))
        #endif
        // The dispatched path needs the features it uses.
        let isa = MLXPrim.cpuISA
        switch isa {
        case "generic":
            break
        case "avx2":
            XCTAssertTrue(Set(["avx2", "fma"]).isSubset(of: features), "\(features)")
        case "avx512":
            XCTAssertTrue(features.contains("avx512f"), "\(features)")
        default:
            XCTFail("unknown ISA '\(isa)'")
        }
        // MLXP_ISA=generic can always be honored.
        if ProcessInfo.processInfo.environment["MLXP_ISA"] == "generic" {
            XCTAssertEqual(isa, "generic")
        }
    }

    func testNumThreads() throws {
        XCTAssertGreaterThanOrEqual(MLXPrim.numThreads, 1)
        try MLXPrim.setNumThreads(3)
        XCTAssertEqual(MLXPrim.numThreads, 3)
        for bad in [-1, 1025, Int(Int32.max) + 1] {
            assertThrows(.invalidArgument, "\(bad) threads") { try MLXPrim.setNumThreads(bad) }
            XCTAssertEqual(MLXPrim.numThreads, 3, "a rejected count leaves the setting")
        }
        try MLXPrim.setNumThreads(0)
        XCTAssertGreaterThanOrEqual(MLXPrim.numThreads, 1)
    }

    func testResultsDoNotDependOnThreads() throws {
        var data = TestData(seed: 6)
        let shape = [64, 257]
        let x: [Float] = data.values(product(shape), scale: 5)
        let w: [Float] = data.values(257, scale: 1)
        let (packed, scales, _) = try MLXPrim.quantizeInt4(
            Array(x.prefix(64 * 128)), rows: 64, cols: 128, groupSize: 64)
        var results: [[Float]] = []
        for threads in [1, 2, 7] {
            try MLXPrim.setNumThreads(threads)
            var all = try MLXPrim.softmax(x, shape: shape)
            all += try MLXPrim.rmsNorm(x, shape: shape, weight: w).output
            all += try MLXPrim.matmul(x, shape: shape, x, shape: shape, transB: true).values
            all += try MLXPrim.layerNorm(x, shape: [64, 257], weight: w).output
            all += try MLXPrim.int4Linear(
                x: Array(x.prefix(3 * 128)), xShape: [3, 128], packed: packed, scales: scales,
                out: 64, in: 128, groupSize: 64)
            results.append(all)
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }
}

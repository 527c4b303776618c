// swift-tools-version:5.9
// Swift binding of libmlxprim. The library itself is built separately (scripts/build.sh)
// and found at build time through pkg-config (`mlxprim.pc`), the compiler's default
// search paths, or explicit flags: see README.md.
import PackageDescription

let package = Package(
    name: "MLXPrim",
    // Float16 needs macOS 11 / iOS 14 on Apple platforms.
    platforms: [.macOS(.v11), .iOS(.v14)],
    products: [
        .library(name: "MLXPrim", targets: ["MLXPrim"]),
    ],
    targets: [
        // The C header and the link against libmlxprim.
        .systemLibrary(name: "CMLXPrim", pkgConfig: "mlxprim"),
        // The Swift API over it: argument marshalling and error mapping only.
        .target(name: "MLXPrim", dependencies: ["CMLXPrim"]),
        .testTarget(name: "MLXPrimTests", dependencies: ["MLXPrim", "CMLXPrim"]),
    ]
)

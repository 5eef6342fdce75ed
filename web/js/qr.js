// A QR code drawn as SVG elements from the vendored encoder's module matrix (no inline markup,
// no data: URL needed), so it renders under the app's Content-Security-Policy.
import qrcode from "../vendor/qrcode-generator/qrcode.mjs";
import { svg } from "./dom.js";

const QUIET_ZONE = 4; // modules of white border that scanners expect
const PIXELS_PER_MODULE = 5;

/** An <svg role="img"> QR code of `text` (an otpauth:// URI: ASCII, its label percent-encoded). */
export function qrCode(text, label) {
  const code = qrcode(0, "M"); // 0: the smallest version that fits
  code.addData(text);
  code.make();
  const count = code.getModuleCount();
  const size = count + 2 * QUIET_ZONE;
  const image = svg("svg", {
    viewBox: `0 0 ${size} ${size}`,
    width: size * PIXELS_PER_MODULE,
    height: size * PIXELS_PER_MODULE,
    role: "img",
    "aria-label": label,
    class: "qr",
    "shape-rendering": "crispEdges",
  });
  image.append(svg("rect", { width: size, height: size, fill: "#ffffff" }));
  let path = "";
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (code.isDark(row, col)) path += `M${col + QUIET_ZONE} ${row + QUIET_ZONE}h1v1h-1z`;
    }
  }
  image.append(svg("path", { d: path, fill: "#000000" }));
  return image;
}

// actionlint (GitHub Actions workflow linter) as a test peer: `go install github.com/rhysd/actionlint/cmd/actionlint@<pinned>`
// into PEERS_DIR/actionlint-<version>/ (about a minute cold).
import { goInstall, peer, type PeerResult } from "./peers.ts";

export const ACTIONLINT_VERSION = "v1.7.12";
export const ACTIONLINT_PEER_NAME = `actionlint (${ACTIONLINT_VERSION})`;

export function actionlint(): Promise<PeerResult> {
  return peer(ACTIONLINT_PEER_NAME, () => goInstall(`actionlint-${ACTIONLINT_VERSION}`, `github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}`));
}

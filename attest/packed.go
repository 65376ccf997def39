package attest

import "fmt"

// verifyPacked verifies a "packed" statement (WebAuthn section 8.2.1) with
// the key authorization as attToBeSigned (draft section 5): sig is the
// leaf's signature over keyAuth. The leaf's key is the attested key: the
// device maker certified it, and the device proves it holds it.
func (v *Verifier) verifyPacked(raw []byte, keyAuth []byte) (*Result, error) {
	var st PackedStatement
	if err := decMode.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("attStmt is not the map of WebAuthn section 8.2: %v", err)
	}
	leaf, root, err := v.chain(st.X5C)
	if err != nil {
		return nil, err
	}
	if err := verifyASN1(leaf.PublicKey, st.Alg, keyAuth, st.Sig); err != nil {
		return nil, fmt.Errorf("sig over this challenge's key authorization: %v", err)
	}
	return newResult(leaf, root, leaf.PublicKey)
}

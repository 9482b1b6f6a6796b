package pipe

// The authentication handshake is Python 3.12's (multiprocessing.connection
// deliver_challenge and answer_challenge), with SHA-256 only: no MD5, and
// no legacy form without a digest name. Every step is one message in the
// connection's framing:
//
//	deliverer → answerer   "#CHALLENGE#" "{sha256}" nonce    (nonce: 40 random bytes)
//	answerer  → deliverer  "{sha256}" HMAC-SHA256(key, "{sha256}" nonce)
//	deliverer → answerer   "#WELCOME#" or "#FAILURE#"
//
// The deliverer compares the answer with hmac.Equal (constant time).
// Listen's connections deliver first and then answer; Dial's answer first
// and then deliver, so each side proves it knows the key and checks that
// the other does. Answers are read with a cap of 256 bytes, and the whole
// handshake with a deadline (Options.HandshakeTimeout); no message is
// decoded before it is over.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

const (
	challengePrefix = "#CHALLENGE#"
	welcome         = "#WELCOME#"
	failure         = "#FAILURE#"
	digestTag       = "{sha256}"
	nonceLen        = 40
	// maxAuthMessage caps every message read during the handshake.
	maxAuthMessage = 256
)

// DeliverChallenge sends c a challenge and checks its answer, as Python's
// deliver_challenge does: on success it sends a welcome and returns nil;
// otherwise it sends a failure and returns an error wrapping
// ErrAuthentication. key must not be empty.
func DeliverChallenge(ctx context.Context, c Connection, key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrAuthentication)
	}
	msg := make([]byte, 0, len(digestTag)+nonceLen)
	msg = append(msg, digestTag...)
	nonce := make([]byte, nonceLen)
	rand.Read(nonce) // never fails (crypto/rand)
	msg = append(msg, nonce...)
	if err := c.SendBytes(ctx, append([]byte(challengePrefix), msg...)); err != nil {
		return fmt.Errorf("%w: send challenge: %w", ErrAuthentication, err)
	}
	buf := make([]byte, maxAuthMessage)
	n, err := c.RecvBytesInto(ctx, buf)
	if err != nil {
		if !errors.Is(err, ErrBufferTooShort) {
			return fmt.Errorf("%w: receive answer: %w", ErrAuthentication, err)
		}
		n = -1
	}
	if n < 0 || !hmac.Equal(buf[:n], answer(key, msg)) {
		c.SendBytes(ctx, []byte(failure))
		return fmt.Errorf("%w: digest received was wrong", ErrAuthentication)
	}
	if err := c.SendBytes(ctx, []byte(welcome)); err != nil {
		return fmt.Errorf("%w: send welcome: %w", ErrAuthentication, err)
	}
	return nil
}

// AnswerChallenge answers the challenge c sends, as Python's
// answer_challenge does, and returns an error wrapping ErrAuthentication
// unless c welcomes the answer. key must not be empty.
func AnswerChallenge(ctx context.Context, c Connection, key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrAuthentication)
	}
	buf := make([]byte, maxAuthMessage)
	n, err := c.RecvBytesInto(ctx, buf)
	if err != nil {
		return fmt.Errorf("%w: receive challenge: %w", ErrAuthentication, err)
	}
	msg, ok := bytes.CutPrefix(buf[:n], []byte(challengePrefix))
	if !ok || !bytes.HasPrefix(msg, []byte(digestTag)) || len(msg) < len(digestTag)+20 {
		return fmt.Errorf("%w: malformed challenge", ErrAuthentication)
	}
	if err := c.SendBytes(ctx, answer(key, msg)); err != nil {
		return fmt.Errorf("%w: send answer: %w", ErrAuthentication, err)
	}
	n, err = c.RecvBytesInto(ctx, buf)
	if err != nil && !errors.Is(err, ErrBufferTooShort) {
		return fmt.Errorf("%w: receive verdict: %w", ErrAuthentication, err)
	}
	if err != nil || string(buf[:n]) != welcome {
		return fmt.Errorf("%w: digest sent was rejected", ErrAuthentication)
	}
	return nil
}

// answer is the answer to the challenge msg (digest tag and nonce).
func answer(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum([]byte(digestTag))
}

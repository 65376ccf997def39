package store

import "time"

// MaxStatusError bounds the length, in bytes, of the error text a device
// reports (DeviceStatus.LastError); the device API cuts longer text.
const MaxStatusError = 1024

// DeviceStatus is what a paired device last reported about itself
// (PUT /api/v1/device/status): the last failure of its certificate work,
// shown to its owner as the device's last error. An empty LastError means
// the device's last attempt succeeded.
type DeviceStatus struct {
	DeviceID  string
	LastError string // plain text, at most MaxStatusError bytes
	// At is when the device says the error happened (or the success that
	// cleared it); UpdatedAt is when the issuer stored the report.
	At        time.Time
	UpdatedAt time.Time
	// NameCheck is the device's last check of its own names through its
	// system resolver (SetDeviceNameCheck); zero if it never reported one.
	NameCheck NameCheck
}

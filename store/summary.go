package store

import (
	"net/netip"
	"time"
)

// DeviceSummary is one row of a device list: a device with what the list
// shows of it, read for a whole page of devices in one query
// (ListDeviceSummaries) rather than several per device.
type DeviceSummary struct {
	Device
	OwnerName string
	// Certificates counts every certificate issued to the device;
	// CertExpiry and LastIssued are the latest NotAfter and CreatedAt of
	// its unrevoked ones (zero if none).
	Certificates           int
	CertExpiry, LastIssued time.Time
	// Reported is what the device last reported (GetDeviceStatus).
	Reported DeviceStatus
	// ShortName is the owner's short name for it (GetDeviceShortName).
	ShortName ShortName
	// Addresses, Publish and Port are its DNS data (GetDeviceDNS).
	Addresses []netip.Addr
	Publish   Publish
	Port      int
}

// DeviceSummaryFilter selects a page of ListDeviceSummaries, newest first.
type DeviceSummaryFilter struct {
	OwnerID string // only this owner's devices; "" for every owner's
	ID      string // only this device; "" for any
	// Before, when set, lists the devices made before the device with
	// this ID: the next page after the one that ended with it.
	Before string
	// Limit bounds the page; 0 or less means 100.
	Limit int
	// Removed includes the devices their owners took off the list
	// (StatusRemoved).
	Removed bool
}

package main

// rpc: a loopback TCP echo inside the driver, as a Go service is written:
// one server goroutine per accepted connection and one client goroutine per
// connection, each blocking in Read and Write on a net.Conn while the
// runtime's netpoller parks and wakes them. A message is a 4-byte
// little-endian length and then `size` payload bytes that depend on
// (conn, seq); the client checks every reply's payload. TCP_NODELAY, on
// 127.0.0.1 only.
//
// Closed loop: each client sends `requests` requests, one at a time, per
// loop; latency is from send to reply. active_conns: the connections in use
// on average over the timed span, each from its first send to its last
// reply; below conns when some clients start late.
//
// Open loop: the clients together send at `rate` requests per second for
// `duration_ms`, connection c's k-th request scheduled at (k*conns + c)/rate
// seconds from the start. Each connection has a sender goroutine, which
// sleeps until a request is due and writes it, and a receiver goroutine,
// which checks the replies; latency is measured from the scheduled send
// time, so a slow reply never delays a later send and a stalled server
// shows as latency instead of as fewer requests (no coordinated omission).
// send_lag_ns is how late the sender woke for each request, the part of the
// latency before the write.
//
// Timed: from the moment every client may start until the last reply.
// Not timed: listening, connecting and accepting the connections, and
// closing them. fds_before/fds_after count the open descriptors before the
// listener opens and after every connection and the listener are closed:
// equal unless a descriptor leaked. The descriptor limit is raised to the
// hard limit at start (main.go); a request that needs more descriptors than
// that, or runs out of ports or descriptors on the way, is an error and
// every descriptor it opened is closed.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

const frameHeader = 4

var rpcWorkload = &workload{
	name: "rpc",
	unit: "request",
	help: "loopback TCP echo, a server goroutine per connection and a client goroutine " +
		"per connection (open loop: a sender and a receiver); closed loop, or open loop at a " +
		"fixed rate with latency from each request's scheduled send time",
	params: []paramSpec{
		{name: "conns", typ: intParam, def: int64(64), min: 1, max: 100000,
			help: "connections, each with its own client and server goroutine"},
		{name: "size", typ: intParam, def: int64(64), min: 1, max: 1048576,
			help: "payload bytes per message"},
		{name: "requests", typ: intParam, def: int64(1000), min: 1, max: 1e9,
			help: "closed loop: requests per connection per loop"},
		{name: "mode", typ: strParam, def: "closed", choices: []string{"closed", "open"},
			help: "closed: each client waits for its reply; open: requests at a fixed rate"},
		{name: "rate", typ: intParam, def: int64(20000), min: 1, max: 10000000,
			help: "open loop: requests per second over all connections"},
		{name: "duration_ms", typ: intParam, def: int64(1000), min: 1, max: 3600000,
			help: "open loop: how long each loop sends"},
	},
	loop: rpcLoop,
}

// fillPayload writes the bytes of request seq on connection conn.
func fillPayload(p []byte, conn, seq uint64) {
	x := mix64(conn<<32 ^ seq)
	for i := range p {
		if i%8 == 0 {
			x = mix64(x)
		}
		p[i] = byte(x >> (8 * (i % 8)))
	}
}

// echoPair is one loopback connection: the client's end and the server's.
type echoPair struct{ client, server *net.TCPConn }

// openPairs listens on 127.0.0.1 and connects n pairs, TCP_NODELAY on both
// ends. On failure it closes what it opened.
func openPairs(n int) (*net.TCPListener, []echoPair, error) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, fmt.Errorf("listening on 127.0.0.1: %w", describeNetErr(err))
	}
	addr := ln.Addr().(*net.TCPAddr)
	pairs := make([]echoPair, 0, n)
	for i := 0; i < n; i++ {
		client, err := net.DialTCP("tcp4", nil, addr)
		if err == nil {
			var server *net.TCPConn
			if server, err = ln.AcceptTCP(); err == nil {
				pairs = append(pairs, echoPair{client, server})
				client.SetNoDelay(true) // Go's default, stated
				server.SetNoDelay(true)
				continue
			}
			client.Close()
		}
		closePairs(pairs)
		ln.Close()
		return nil, nil, fmt.Errorf("opening connection %d of %d: %w", i+1, n, describeNetErr(err))
	}
	return ln, pairs, nil
}

func closePairs(pairs []echoPair) {
	for _, p := range pairs {
		p.client.Close()
		p.server.Close()
	}
}

// describeNetErr adds the fix to the errors a user can do something about.
func describeNetErr(err error) error {
	switch {
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("%v: out of file descriptors (limit %d); use fewer connections or raise the hard RLIMIT_NOFILE",
			err, fileLimit())
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%v: out of local ports; use fewer connections", err)
	}
	return err
}

func fileLimit() uint64 {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// echo serves one connection until the client closes it: read a frame,
// write it back.
func echo(conn *net.TCPConn, maxSize int) error {
	r := bufio.NewReader(conn)
	buf := make([]byte, frameHeader+maxSize)
	for {
		if _, err := io.ReadFull(r, buf[:frameHeader]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		n := int(binary.LittleEndian.Uint32(buf))
		if n > maxSize {
			return fmt.Errorf("server received a frame of %d bytes, more than %d", n, maxSize)
		}
		if _, err := io.ReadFull(r, buf[frameHeader:frameHeader+n]); err != nil {
			return err
		}
		if _, err := conn.Write(buf[:frameHeader+n]); err != nil {
			return err
		}
	}
}

// client is one connection's requester; it reuses its buffers. In the open
// loop the sender writes out and the receiver reads into in and builds the
// expected reply in want.
type client struct {
	id   uint64
	conn *net.TCPConn
	r    *bufio.Reader
	out  []byte
	in   []byte
	want []byte
	// closed loop: first send to last reply
	active time.Duration
}

func newClient(id int, conn *net.TCPConn, size int) *client {
	c := &client{id: uint64(id), conn: conn, r: bufio.NewReader(conn),
		out: make([]byte, frameHeader+size), in: make([]byte, frameHeader+size),
		want: make([]byte, frameHeader+size)}
	binary.LittleEndian.PutUint32(c.out, uint32(size))
	binary.LittleEndian.PutUint32(c.want, uint32(size))
	return c
}

// send writes request seq.
func (c *client) send(seq uint64) error {
	fillPayload(c.out[frameHeader:], c.id, seq)
	if _, err := c.conn.Write(c.out); err != nil {
		return fmt.Errorf("connection %d, request %d: writing: %w", c.id, seq, err)
	}
	return nil
}

// receive reads the reply to request seq and checks it against want.
func (c *client) receive(seq uint64, want []byte) error {
	if err := c.readReply(seq); err != nil {
		return err
	}
	return c.checkReply(seq, want)
}

// readReply reads reply seq into c.in.
func (c *client) readReply(seq uint64) error {
	if _, err := io.ReadFull(c.r, c.in); err != nil {
		return fmt.Errorf("connection %d, request %d: reading the reply: %w", c.id, seq, err)
	}
	return nil
}

// checkReply compares reply seq, in c.in, with want.
func (c *client) checkReply(seq uint64, want []byte) error {
	if !bytes.Equal(c.in, want) {
		return fmt.Errorf("connection %d, request %d: the reply differs from the request", c.id, seq)
	}
	return nil
}

// roundTrip sends request seq and checks its reply.
func (c *client) roundTrip(seq uint64) error {
	if err := c.send(seq); err != nil {
		return err
	}
	return c.receive(seq, c.out)
}

// firstError keeps the first error of many goroutines and runs abort once,
// so that the others stop instead of waiting for replies that never come.
type firstError struct {
	once  sync.Once
	err   error
	abort func()
}

func (f *firstError) set(err error) {
	if err != nil {
		f.once.Do(func() { f.err = err; f.abort() })
	}
}

// checkBufferMemory refuses connections whose buffers would not fit, as
// rpc.c's check_buffer_memory does with the same count: four frames per
// connection (the client's out and in, the server's, one in the kernel's
// socket buffers) and two 4 KiB readers. 5000 connections of 1 MiB
// messages peaked at 15 GB; ten thousand would bring the OOM killer.
func checkBufferMemory(conns, size int) error {
	frame := uint64(frameHeader + size)
	need := uint64(conns) * (4*frame + 2*4096) / 1024
	if avail := memAvailableKiB(); avail >= 0 && need > uint64(avail) {
		return fmt.Errorf("%d connections of %d-byte messages need about %d MiB for their buffers, "+
			"only %d MiB is available; lower conns or size", conns, size, need/1024, avail/1024)
	}
	return nil
}

func rpcLoop(a *args) (loopResult, error) {
	conns, size := int(a.int("conns")), int(a.int("size"))
	fdsBefore := openFDs()
	if need, limit := uint64(2*conns+16), fileLimit(); need > limit {
		return loopResult{}, fmt.Errorf("%d connections need %d descriptors (client and server ends), the limit is %d; "+
			"use conns <= %d or raise the hard RLIMIT_NOFILE", conns, need, limit, (limit-16)/2)
	}
	if err := checkBufferMemory(conns, size); err != nil {
		return loopResult{}, err
	}
	ln, pairs, err := openPairs(conns)
	if err != nil {
		return loopResult{}, err
	}

	failed := &firstError{abort: func() { closePairs(pairs) }}
	var servers sync.WaitGroup
	servers.Add(conns)
	for _, p := range pairs {
		go func() {
			defer servers.Done()
			failed.set(echo(p.server, size))
		}()
	}

	latency := newShardedHistogram(min(conns, 2*a.procs))
	lag := newShardedHistogram(min(conns, 2*a.procs))
	clients := make([]*client, conns)
	for i, p := range pairs {
		clients[i] = newClient(i, p.client, size)
	}
	var r loopResult
	open := a.str("mode") == "open"
	if open {
		r = openLoop(clients, float64(a.int("rate")),
			time.Duration(a.int("duration_ms"))*time.Millisecond, latency, lag, failed)
	} else {
		r = closedLoop(clients, uint64(a.int("requests")), latency, failed)
	}

	for _, p := range pairs {
		p.client.Close() // the server reads EOF and returns
	}
	servers.Wait()
	closePairs(pairs)
	ln.Close()
	if failed.err != nil {
		return loopResult{}, failed.err
	}
	lat := latency.merged()
	loopMetrics := r.metrics // the closed loop's active_conns
	throughput := 0.0
	if r.elapsed > 0 {
		throughput = float64(r.ops) / r.elapsed.Seconds()
	}
	r.metrics = object{
		{"throughput_per_s", throughput},
		{"latency_ns", object{
			{"p50", lat.percentile(50)},
			{"p90", lat.percentile(90)},
			{"p99", lat.percentile(99)},
			{"p999", lat.percentile(99.9)},
			{"max", lat.percentile(100)},
		}},
	}
	if open {
		sendLag := lag.merged()
		if sendLag.count != r.ops {
			return loopResult{}, fmt.Errorf("%d sends counted, %d requests made: one was lost or counted twice",
				sendLag.count, r.ops)
		}
		r.metrics = append(r.metrics, field{"send_lag_ns", object{
			{"p50", sendLag.percentile(50)},
			{"p99", sendLag.percentile(99)},
			{"max", sendLag.percentile(100)},
		}})
	} else {
		r.metrics = append(r.metrics, loopMetrics...)
	}
	r.metrics = append(r.metrics, field{"fds_before", fdsBefore}, field{"fds_after", openFDs()})
	return r, nil
}

func closedLoop(clients []*client, requests uint64, latency shardedHistogram, failed *firstError) loopResult {
	start := make(chan struct{})
	var done sync.WaitGroup
	done.Add(len(clients))
	for _, c := range clients {
		go func() {
			defer done.Done()
			<-start
			h := latency.of(c.id)
			first := time.Now()
			for seq := uint64(0); seq < requests; seq++ {
				sent := time.Now()
				if err := c.roundTrip(seq); err != nil {
					failed.set(err)
					return
				}
				h.record(uint64(time.Since(sent)))
			}
			c.active = time.Since(first)
		}()
	}
	t0 := time.Now()
	close(start)
	done.Wait()
	r := loopResult{elapsed: time.Since(t0), ops: uint64(len(clients)) * requests}
	var active time.Duration
	for _, c := range clients {
		active += c.active
	}
	activeConns := 0.0
	if r.elapsed > 0 {
		activeConns = float64(active) / float64(r.elapsed)
	}
	r.metrics = object{{"active_conns", activeConns}}
	return r
}

func openLoop(clients []*client, rate float64, duration time.Duration, latency, lag shardedHistogram, failed *firstError) loopResult {
	conns := uint64(len(clients))
	// scheduled is when request k of connection c is due, from the start.
	scheduled := func(c, k uint64) time.Duration {
		return time.Duration(float64(k*conns+c) / rate * 1e9)
	}
	var t0 time.Time
	start := make(chan struct{})
	var done sync.WaitGroup
	var mu sync.Mutex
	var answered uint64
	var last time.Time
	done.Add(2 * len(clients))
	for _, c := range clients {
		var n uint64 // requests of this connection due within the duration
		for scheduled(c.id, n) < duration {
			n++
		}
		go func() { // the sender
			defer done.Done()
			<-start
			h := lag.of(c.id)
			for k := uint64(0); k < n; k++ {
				due := t0.Add(scheduled(c.id, k))
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				h.record(uint64(max(time.Since(due), 0)))
				if err := c.send(k); err != nil {
					failed.set(err)
					return
				}
			}
		}()
		go func() { // the receiver
			defer done.Done()
			<-start
			h := latency.of(c.id)
			for k := uint64(0); k < n; k++ {
				fillPayload(c.want[frameHeader:], c.id, k)
				if err := c.readReply(k); err != nil {
					failed.set(err)
					return
				}
				// stamped on arrival, before the compare, as in the C drivers
				arrived := time.Now()
				if err := c.checkReply(k, c.want); err != nil {
					failed.set(err)
					return
				}
				h.record(uint64(arrived.Sub(t0.Add(scheduled(c.id, k)))))
			}
			now := time.Now()
			mu.Lock()
			answered += n
			if now.After(last) {
				last = now
			}
			mu.Unlock()
		}()
	}
	t0 = time.Now()
	close(start)
	done.Wait()
	return loopResult{elapsed: last.Sub(t0), ops: answered}
}

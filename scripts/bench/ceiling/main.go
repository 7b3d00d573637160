// hk-s3-ceiling: the native S3 ceiling of the bench (scripts/bench/native.ts). It PUTs or GETs the objects the bench
// names, at the concurrency it is given, with minio-go (MinIO's own Go client, no SDK middleware between the call
// and the socket), and prints one JSON line: how many, the seconds from the first request to the last answer, and
// the CPU seconds this process used meanwhile. What our store reaches against this is what its own client costs.
//
//	hk-s3-ceiling -op put -bucket B -concurrency N -bodies DIR < keys   (object i gets body i mod |DIR|)
//	hk-s3-ceiling -op get -bucket B -concurrency N < keys
//
// Endpoint and credentials: S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (the services' env).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)/1e6
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hk-s3-ceiling: "+format+"\n", args...)
	os.Exit(1)
}

func readKeys() []string {
	var keys []string
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 64*1024), 64*1024)
	for scanner.Scan() {
		if line := scanner.Text(); line != "" {
			keys = append(keys, line)
		}
	}
	if err := scanner.Err(); err != nil {
		fail("reading keys: %v", err)
	}
	return keys
}

type body struct {
	bytes []byte
	// S3's form of its CRC-32, computed beforehand as the archiver computes it before the PUT.
	crc32 string
}

func readBodies(dir string) []body {
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(names) == 0 {
		fail("no bodies in %q", dir)
	}
	sort.Strings(names)
	bodies := make([]body, len(names))
	for i, name := range names {
		bytes, err := os.ReadFile(name)
		if err != nil {
			fail("%v", err)
		}
		sum := binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(bytes))
		bodies[i] = body{bytes, base64.StdEncoding.EncodeToString(sum)}
	}
	return bodies
}

func client(concurrency int) *minio.Client {
	endpoint, err := url.Parse(os.Getenv("S3_ENDPOINT"))
	if err != nil || endpoint.Host == "" {
		fail("S3_ENDPOINT must be a URL such as http://127.0.0.1:19000")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// As many keep-alive connections as requests in flight, like our store's agent (maxSockets).
	transport.MaxIdleConnsPerHost = concurrency
	transport.MaxConnsPerHost = concurrency
	c, err := minio.New(endpoint.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		Secure:    endpoint.Scheme == "https",
		Region:    os.Getenv("AWS_REGION"),
		Transport: transport,
	})
	if err != nil {
		fail("%v", err)
	}
	return c
}

func main() {
	op := flag.String("op", "", "put or get")
	bucket := flag.String("bucket", "", "bucket")
	concurrency := flag.Int("concurrency", 64, "requests in flight")
	bodiesDir := flag.String("bodies", "", "put: directory of object bodies")
	flag.Parse()
	if (*op != "put" && *op != "get") || *bucket == "" || *concurrency < 1 {
		fail("usage: -op put|get -bucket B -concurrency N [-bodies DIR] < keys")
	}
	keys := readKeys()
	var bodies []body
	if *op == "put" {
		bodies = readBodies(*bodiesDir)
	}
	c := client(*concurrency)
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Value
	task := func(i int) error {
		if *op == "put" {
			b := bodies[i%len(bodies)]
			// As our store sends it: the CRC-32 in a header S3 checks, no SHA-256 of the payload.
			_, err := c.PutObject(ctx, *bucket, keys[i], bytes.NewReader(b.bytes), int64(len(b.bytes)),
				minio.PutObjectOptions{
					UserMetadata:         map[string]string{"x-amz-checksum-crc32": b.crc32},
					DisableContentSha256: true,
					DisableMultipart:     true,
				})
			return err
		}
		object, err := c.GetObject(ctx, *bucket, keys[i], minio.GetObjectOptions{Checksum: true})
		if err != nil {
			return err
		}
		defer object.Close()
		_, err = io.ReadAll(object)
		return err
	}
	cpu, started := cpuSeconds(), time.Now()
	var wg sync.WaitGroup
	for w := 0; w < min(*concurrency, len(keys)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(keys); i = int(next.Add(1) - 1) {
				if err := task(i); err != nil {
					failed.Store(fmt.Sprintf("%s %s: %v", *op, keys[i], err))
					return
				}
			}
		}()
	}
	wg.Wait()
	seconds, cpuUsed := time.Since(started).Seconds(), cpuSeconds()-cpu
	if message, ok := failed.Load().(string); ok {
		fail("%s", message)
	}
	out, _ := json.Marshal(map[string]any{"records": len(keys), "seconds": seconds, "cpuSeconds": cpuUsed})
	fmt.Println(string(out))
}
